"""PyTorch models as crpsgd problems (the optional ``crpsgd[torch]`` extra).

Importing this package does not import torch; its modules do. :func:`require_torch` is the
one check a caller makes before building a torch problem, so that a run without PyTorch
installed ends with one message instead of an ``ImportError``.

- :mod:`.flat` -- a module's parameters and gradients as views into one flat buffer each;
- :mod:`.resnet` -- ResNet20 for CIFAR (He et al. 2016);
- :mod:`.models` -- ``resnet20`` or a user's ``pkg.module:build``;
- :mod:`.pipeline` -- minibatches of an image shard: augmentation and normalisation;
- :mod:`.problem` -- :class:`~crpsgd.torchprob.problem.TorchProblem`, the Problem protocol;
- :mod:`.evaluate` -- evaluation with test loss and accuracy in one collective;
- :mod:`.build` -- the parameters, data loading and construction a registered part needs.
"""

from __future__ import annotations

import importlib.util

from crpsgd.errors import UsageError

TORCH_MISSING = (
    "--problem torch needs PyTorch: from the project's checkout, make install "
    "EXTRAS=mpich,test,torch (or pip install -e '.[torch]')"
)


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def require_torch() -> None:
    """Raise the one :class:`UsageError` of a torch problem without PyTorch installed."""
    if not torch_available():
        raise UsageError(TORCH_MISSING)
