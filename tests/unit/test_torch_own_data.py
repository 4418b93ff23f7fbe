"""A user's own data (``crpsgd.torch.train``'s ``Dataset`` or ``--data pkg.module:fn``) goes
to the model as it is: CIFAR-10's normalisation and augmentation apply to ``cifar10:DIR``
only, even for uint8 images of CIFAR-10's shape with ``--augment standard``."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from crpsgd.data.images import ImageShard  # noqa: E402
from crpsgd.torch.data import ObjectData  # noqa: E402
from crpsgd.torchprob.pipeline import BatchPipeline  # noqa: E402
from crpsgd.torchprob.problem import TorchProblem  # noqa: E402


def _images():
    g = torch.Generator().manual_seed(5)
    x = torch.randint(0, 256, (12, 3, 8, 8), generator=g, dtype=torch.uint8)
    return x, torch.arange(12) % 3


class _ToFloat(torch.nn.Module):  # the dataset's uint8 pixels reach the model as they are
    def forward(self, x):
        return x.float() / 255


def _net():
    return torch.nn.Sequential(_ToFloat(), torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 3))


def test_a_dataset_of_cifar_shaped_images_is_neither_normalised_nor_augmented():
    x, y = _images()
    data = torch.utils.data.TensorDataset(x, y)
    shard = ObjectData(data, "train_data").shard(0, 1)
    assert shard.plain and not shard.is_image
    idx = np.array([0, 3, 3, 7, 11])
    batch, targets = BatchPipeline(shard, torch.Generator().manual_seed(1)).batch(idx, True)
    assert torch.equal(batch, x[idx]) and torch.equal(targets, y[idx])
    problem = TorchProblem(_net(), shard, rank=0, size=1, seed=0, augment=True, eval_rows=4)
    assert not problem.augment  # --augment standard is CIFAR-10's, not this dataset's


def test_the_same_images_from_cifar10_files_are_normalised_and_augmented():
    x, y = _images()  # the contrast: what cifar10:DIR's shards go through
    shard = ImageShard(x.numpy(), y.numpy(), 12, 3, "cifar10:DIR")
    assert shard.is_image
    idx = np.arange(12)
    pipe = BatchPipeline(shard, torch.Generator().manual_seed(1))
    plain, _ = pipe.batch(idx, False)
    assert plain.dtype == torch.float32 and not torch.equal(plain, x.float())
    augmented, _ = pipe.batch(idx, True)
    assert not torch.equal(augmented, plain)
    problem = TorchProblem(_net(), shard, rank=0, size=1, seed=0, augment=True, eval_rows=4)
    assert problem.augment
