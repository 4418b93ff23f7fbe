"""``crpsgd.torch``: your own PyTorch model, data, loss and optimizer under CR-PSGD.

- :func:`train` (:mod:`.api`) -- collective: every rank calls it; returns a
  :class:`TrainResult` with the trained ``model``;
- :mod:`.data` -- a ``Dataset`` or ``(X, y)`` as this rank's shard;
- :mod:`.model` -- the model, loss and optimizer as the record the torch problem builds from;
- :mod:`.optimizer` -- a ``torch.optim.Optimizer`` stepped with the averaged gradient;
- :mod:`.keywords` -- the run parameters ``train()`` takes, unknown ones refused by name;
- :class:`GrowingBatchSampler` (:mod:`.sampler`) and :class:`GradientAverager`
  (:mod:`.averager`) -- the two parts of ``train()`` for a loop of your own.

Importing it imports PyTorch (the ``crpsgd[torch]`` extra); without PyTorch it is one
``ImportError`` that says how to install it.
"""

from __future__ import annotations

from crpsgd.torchprob import TORCH_MISSING, torch_available

if not torch_available():
    raise ImportError("crpsgd.torch" + TORCH_MISSING.removeprefix("--problem torch"))

from crpsgd.torch.api import TrainResult, train  # noqa: E402
from crpsgd.torch.averager import GradientAverager  # noqa: E402
from crpsgd.torch.sampler import GrowingBatchSampler  # noqa: E402

__all__ = ["GradientAverager", "GrowingBatchSampler", "TrainResult", "train"]
