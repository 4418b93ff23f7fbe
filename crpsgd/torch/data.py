"""A user's data as this rank's shard: a map-style ``torch.utils.data.Dataset`` of
``(input, target)`` items, or a pair ``(X, y)`` of NumPy arrays or tensors.

Rank ``r`` of ``N`` holds the items ``shard_bounds(n, r, N)`` (contiguous; Algorithm 1's
"samples of its own") as one array of inputs and one of targets, from which the rounds draw
i.i.d. with the rank's own stream (:class:`~crpsgd.torchprob.problem.TorchProblem`). Inputs
go to the model as the data gives them (floating point as float32; a Dataset brings its own
transforms). Targets: integer class numbers (``0..k-1``, any ``k``; int64) or float values
(regression; float32, any shape per sample).

Every item is read once, by the rank that holds it, under the guard of the user's code: a
failing ``__getitem__``, an item that is not a pair, inputs or targets whose shapes differ
from item to item, and negative class numbers are each one :class:`UsageError` naming the
argument (``train_data`` or ``test_data``) and the item.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from crpsgd.data.images import ImageShard
from crpsgd.data.shard import shard_bounds
from crpsgd.errors import UsageError
from crpsgd.torchprob.usercode import user_code


class ObjectData:
    """``data`` (a Dataset or ``(X, y)``) passed as the argument ``arg`` of ``train()``."""

    def __init__(self, data: Any, arg: str) -> None:
        self.arg = arg
        self.pair = is_array_pair(data)
        if self.pair:
            x, y = data
            if not _is_array(y):
                raise UsageError(f"{arg}: (X, y) with y a {type(y).__name__}, not an array")
            if len(x) != len(y):
                raise UsageError(f"{arg}: (X, y) with {len(x)} rows in X but {len(y)} in y")
            self.label = f"({type(x).__name__} X, {type(y).__name__} y)"
        elif isinstance(data, torch.utils.data.IterableDataset) or not (
            hasattr(data, "__getitem__") and hasattr(data, "__len__")
        ):
            raise UsageError(
                f"{arg}: a {type(data).__name__}, not a map-style torch.utils.data.Dataset "
                "(with __len__ and __getitem__) nor a pair (X, y) of arrays"
            )
        else:
            self.label = type(data).__name__
        self.data = data
        self.n = len(data[0]) if self.pair else len(data)
        if self.n == 0:
            raise UsageError(f"{arg}: {self.label} has no samples")

    @property
    def source(self) -> str:
        """What the data is, in messages and figures: ``train_data=TensorDataset`` (of a
        flag: ``--data=pkg.mod:fn (TensorDataset)``)."""
        if self.arg.startswith("--"):
            return f"{self.arg} {self.label if self.pair else f'({self.label})'}"
        return f"{self.arg}={self.label}"

    def shard(self, rank: int, size: int) -> ImageShard:
        """Rank ``rank``'s items of ``size`` ranks as arrays (see the module docstring)."""
        if size > self.n:
            raise UsageError(f"{self.arg}: {size} ranks but only {self.n} samples")
        lo, hi = shard_bounds(self.n, rank, size)
        if self.pair:
            x = torch.as_tensor(self.data[0][lo:hi])
            y = torch.as_tensor(self.data[1][lo:hi])
        else:
            x, y = self._items(lo, hi)
        if x.is_floating_point():
            x = x.to(torch.float32)
        if y.is_floating_point() or y.dtype == torch.bool:
            y, classes = y.to(torch.float32), 0
        else:
            if y.ndim != 1:
                raise UsageError(
                    f"{self.arg}: integer targets of shape {tuple(y.shape[1:])} per sample; "
                    "class numbers are one integer per sample (float targets for regression)"
                )
            y = y.to(torch.int64)
            if int(y.min()) < 0:
                raise UsageError(f"{self.arg}: class number {int(y.min())} < 0")
            classes = int(y.max()) + 1
        return ImageShard(
            np.ascontiguousarray(x.numpy()),
            np.ascontiguousarray(y.numpy()),
            self.n,
            classes,
            self.source,
            plain=True,
        )

    def _items(self, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = [], []
        for i in range(lo, hi):
            with user_code(f"{self.arg}: {self.label}[{i}] failed"):
                item = self.data[i]
            if not (isinstance(item, tuple | list) and len(item) == 2):
                what = f"of {len(item)} values" if isinstance(item, tuple | list) else ""
                raise UsageError(
                    f"{self.arg}: item {i} is a {type(item).__name__} {what}".rstrip()
                    + ", not an (input, target) pair"
                )
            inputs.append(_tensor(item[0], self.arg, i, "input"))
            targets.append(_tensor(item[1], self.arg, i, "target"))
        for what, values in (("input", inputs), ("target", targets)):
            first = values[0]
            for k, v in enumerate(values):
                if v.shape != first.shape:
                    raise UsageError(
                        f"{self.arg}: item {lo + k} has {what} of shape {tuple(v.shape)}, item "
                        f"{lo} of shape {tuple(first.shape)}: every item's must be the same"
                    )
        return torch.stack(inputs), torch.stack(targets)


def is_array_pair(data: Any) -> bool:
    """Whether ``data`` is ``(X, y)`` rather than a Dataset (or a pair of Datasets)."""
    return isinstance(data, tuple) and len(data) == 2 and _is_array(data[0])


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray | torch.Tensor)


def _tensor(value: Any, arg: str, i: int, what: str) -> torch.Tensor:
    try:
        return torch.as_tensor(value).detach().cpu()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise UsageError(
            f"{arg}: item {i}'s {what} is a {type(value).__name__}, not a tensor or number ({exc})"
        ) from None
