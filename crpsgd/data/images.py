"""Multi-class samples for neural-network problems: this rank's shard as NumPy arrays.

An :class:`ImageShard` holds ``k`` samples of one shape (``(3, 32, 32)`` uint8 for CIFAR-10
images, ``(d,)`` float32 for tabular rows) and an int64 class number per sample. Tabular data
(LIBSVM, HDF5, synthetic) comes in as a :class:`~crpsgd.data.dataset.Dataset` with labels
``-1/+1``; :func:`from_dataset` maps them to the classes ``0/1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crpsgd.data.cifar10 import cifar10_paths, read_cifar10_shard
from crpsgd.data.dataset import Dataset
from crpsgd.data.dense import csr_to_dense

__all__ = ["ImageShard", "from_dataset", "cifar10_shards"]


@dataclass(frozen=True)
class ImageShard:
    """Samples ``x`` (``(k, *sample_shape)``, uint8 images or float32 rows), class numbers
    ``labels`` (int64, ``0..n_classes-1``; float32 regression targets with ``n_classes``
    0), ``n_total`` rows over all ranks, and ``source`` (what the data is, for logs and
    figures). ``plain``: the samples go to the model as they are (a user's ``Dataset``,
    which brings its own transforms): never normalised nor augmented as CIFAR-10."""

    x: np.ndarray
    labels: np.ndarray
    n_total: int
    n_classes: int
    source: str
    plain: bool = False

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.labels.shape[0]:
            raise ValueError(f"{self.x.shape[0]} samples but {self.labels.shape[0]} labels")

    @property
    def n_rows(self) -> int:
        return int(self.labels.shape[0])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def is_image(self) -> bool:
        """uint8 images ``(3, H, W)``: normalised per channel and augmentable."""
        return (
            not self.plain
            and self.x.dtype == np.uint8
            and self.x.ndim == 4
            and self.x.shape[1] == 3
        )


def from_dataset(ds: Dataset, n_total: int, source: str) -> ImageShard:
    """A tabular shard as float32 rows and classes ``0`` (label ``-1``) / ``1`` (``+1``)."""
    dense = ds.dense if not ds.is_sparse else csr_to_dense(ds).dense
    return ImageShard(
        x=np.ascontiguousarray(dense, dtype=np.float32),
        labels=(ds.y > 0).astype(np.int64),
        n_total=int(n_total),
        n_classes=2,
        source=source,
    )


def cifar10_shards(
    source: str, rank: int, size: int, test_source: str | None = None
) -> tuple[ImageShard, ImageShard]:
    """This rank's rows of the training files of ``cifar10:DIR`` and of the test set:
    ``DIR/test_batch.bin``, or ``test_source`` (a ``cifar10:DIR2`` or one ``.bin`` file)."""
    train_paths, test_path = cifar10_paths(source, need_test=test_source is None)
    if test_source is not None:
        if test_source.startswith("cifar10:"):
            test_path = cifar10_paths(test_source, need_train=False, flag="--test-data")[1]
        else:
            test_path = Path(test_source)
    images, labels, n = read_cifar10_shard(train_paths, rank, size)
    train = ImageShard(images, labels, n, 10, source)
    t_images, t_labels, t_n = read_cifar10_shard((test_path,), rank, size)
    test = ImageShard(t_images, t_labels, t_n, 10, str(test_path))
    return train, test
