"""Which network a torch problem trains: ``resnet20`` or a user's ``pkg.module:build``.

``--model pkg.module:build`` imports ``pkg.module`` (from ``sys.path``, which includes the
working directory; ``--model path/file.py:build`` executes that file) and calls ``build()``
with no arguments, under ``torch.manual_seed(seed)`` so that its default initialisation is
the same on every rank. ``build()`` returns either a ``torch.nn.Module`` or a pair
``(module, loss)``, where ``loss(outputs, targets)`` returns the *mean* loss of a batch as a
scalar tensor (as ``torch.nn.CrossEntropyLoss()`` does); without a loss the problem uses
cross-entropy. Targets are int64 class numbers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import torch
from torch import nn

from crpsgd.data.in_process import is_in_process, lookup
from crpsgd.errors import UsageError
from crpsgd.torchprob.resnet import resnet20
from crpsgd.torchprob.usercode import import_callable, is_file_spec, user_code

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
BUILTIN = ("resnet20",)


def resolve_model(spec: str, seed: int, n_classes: int) -> tuple[nn.Module, Loss | None]:
    """The module and its loss (None: cross-entropy) named by ``--model=spec``.

    Errors (:class:`UsageError`, one message naming ``--model``): a spec that is neither a
    built-in name nor ``module:callable``, a module that cannot be imported, a missing or
    failing callable (an exception, ``sys.exit``, ``os._exit``: :mod:`crpsgd.torchprob.usercode`),
    and a result that is not a Module (or a (Module, loss) pair). A ``python:...`` spec is the
    record of an in-process model (:mod:`crpsgd.data.in_process`): its ``build``, named in
    messages by its ``origin`` (``model=Net``).
    """
    if spec == "resnet20":
        return resnet20(n_classes, seed), None
    if is_in_process(spec):  # crpsgd.torch.train's model: a record of crpsgd.torch
        record = lookup(spec)
        build, origin, attr = record.build, record.origin, record.build_name
    else:
        build, origin, attr = _imported(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with user_code(f"{origin}: {attr}() failed"):
            built = build()
    loss = None
    if isinstance(built, tuple) and len(built) == 2:
        built, loss = built
        if not callable(loss):
            raise UsageError(f"{origin}: the loss returned by {attr}() is not callable")
    if not isinstance(built, nn.Module):
        raise UsageError(
            f"{origin}: {attr}() returned {type(built).__name__}, not a torch.nn.Module "
            "(or a (Module, loss) pair)"
        )
    if not any(True for _ in built.parameters()):
        raise UsageError(f"{origin}: the module has no parameters to train")
    return built, loss


def _imported(spec: str) -> tuple[Callable[[], object], str, str]:
    """The callable of ``pkg.module:callable`` or ``path/file.py:callable``, the flag naming
    it, and its name."""
    if ":" not in spec:
        raise UsageError(
            f"--model={spec}: not a built-in model ({', '.join(BUILTIN)}) nor "
            "'pkg.module:callable' or 'path/file.py:callable'"
        )
    where, _, attr = spec.rpartition(":")
    if is_file_spec(spec):
        with user_code(f"--model={spec}: cannot load {where}"):
            return import_callable(spec), f"--model={spec}", attr
    with user_code(f"--model={spec}: cannot import {where}"):
        module = importlib.import_module(where)
    build = getattr(module, attr, None)
    if not callable(build):
        raise UsageError(f"--model={spec}: {where} has no callable {attr!r}")
    return build, f"--model={spec}", attr


def mse_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of float targets; a ValueError when the shapes differ (where
    ``torch.nn.MSELoss`` would broadcast ``(k, 1)`` against ``(k,)`` with only a warning)."""
    if output.shape != target.shape:
        raise ValueError(
            f"output of shape {tuple(output.shape)[1:]} per sample, float targets of shape "
            f"{tuple(target.shape)[1:]}"
        )
    return torch.nn.functional.mse_loss(output, target)
