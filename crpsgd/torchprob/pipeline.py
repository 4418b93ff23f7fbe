"""Minibatches of an :class:`~crpsgd.data.images.ImageShard` as tensors.

For uint8 images ``(3, H, W)`` (CIFAR-10 and its stand-in), a batch of rows ``idx`` is

1. *augmented* (training only, unless ``augment=False``): every sample, repeats included,
   is zero-padded by 4 pixels on each side and a random ``H x W`` window of the padded image
   is kept (offsets uniform in ``0..8``), then mirrored left-right with probability 1/2;
   the draws come from this rank's own ``torch.Generator``;
2. *normalised* per channel: ``(pixel / 255 - mean_c) / std_c`` with the CIFAR-10 constants
   of :mod:`crpsgd.data.cifar10` (padding pixels are black before normalisation, as in
   torchvision's ``RandomCrop(32, padding=4)`` followed by ``Normalize``).

Float rows (tabular data) are passed through as float32. Targets are int64 class numbers.

On a GPU, a shard of at most :data:`DEVICE_DATA_BYTES` is copied to the device once and
batches are gathered, augmented and normalised there (the augmentation's draws still come
from the rank's CPU generator, so they are the same on either device); a larger shard stays
in host memory and each batch is copied over.
"""

from __future__ import annotations

import numpy as np
import torch

from crpsgd.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD
from crpsgd.data.images import ImageShard

PAD = 4
DEVICE_DATA_BYTES = 2 * 2**30  #: a shard up to this size (images and targets) lives on the GPU


class BatchPipeline:
    """Builds ``(inputs, targets)`` for rows of ``shard`` on ``device``."""

    def __init__(self, shard: ImageShard, generator: torch.Generator, device: str = "cpu") -> None:
        self.shard = shard
        self.generator = generator
        self.device = torch.device(device)
        self.images = shard.is_image
        self._x = torch.from_numpy(shard.x)
        self._y = torch.from_numpy(shard.labels)
        self._mean = torch.tensor(CIFAR10_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(CIFAR10_STD, dtype=torch.float32).view(1, 3, 1, 1)
        #: whether the shard is where the batches are computed (always on the CPU)
        self.on_device = self.device.type == "cpu" or (
            self._x.nbytes + self._y.nbytes <= DEVICE_DATA_BYTES
        )
        if self.device.type != "cpu" and self.on_device:
            self._x, self._y = self._x.to(self.device), self._y.to(self.device)
            self._mean, self._std = self._mean.to(self.device), self._std.to(self.device)

    def batch(self, idx: np.ndarray, augment: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets of local rows ``idx`` (int64); augmented if ``augment``."""
        rows = torch.from_numpy(np.ascontiguousarray(idx, dtype=np.int64))
        x = self._x.index_select(0, rows.to(self._x.device))
        y = self._y.index_select(0, rows.to(self._y.device))
        if self.images:
            if augment:
                x = self._crop_flip(x)
            x = (x.to(torch.float32) * (1.0 / 255.0) - self._mean) / self._std
        if not self.on_device:
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
        return x, y

    def _crop_flip(self, x: torch.Tensor) -> torch.Tensor:
        """Random crop of the 4-pixel zero-padded images, then random horizontal flip, in one
        gather: ``out[b, c, i, j] = padded[b, c, oy_b + i, col_b(j)]``."""
        b, c, h, w = x.shape
        g = self.generator
        padded = torch.nn.functional.pad(x, (PAD, PAD, PAD, PAD))
        oy = torch.randint(0, 2 * PAD + 1, (b,), generator=g)
        ox = torch.randint(0, 2 * PAD + 1, (b,), generator=g)
        flip = torch.randint(0, 2, (b,), generator=g).bool()
        ar_h, ar_w = torch.arange(h), torch.arange(w)
        rows = oy[:, None] + ar_h[None, :]  # (b, h)
        cols = torch.where(flip[:, None], ox[:, None] + (w - 1 - ar_w)[None, :], ox[:, None] + ar_w)
        bi = torch.arange(b)[:, None, None, None]
        ci = torch.arange(c)[None, :, None, None]
        if x.device.type != "cpu":  # the draws above are the CPU generator's, on any device
            bi, ci, rows, cols = (t.to(x.device) for t in (bi, ci, rows, cols))
        return padded[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]
