"""The model, loss and optimizer of :func:`crpsgd.torch.train` as one record that the torch
problem's builder finds under ``--model=python:...`` (:mod:`crpsgd.data.in_process`).

``model`` is an ``nn.Module`` (built identically on every rank: the run checks), a callable
returning one (called under ``torch.manual_seed(seed)``, as ``--model`` builds are), or a
``"pkg.module:fn"`` / ``"path/file.py:fn"`` string. Whatever fails in the user's code before
the rounds is one :class:`~crpsgd.errors.UsageError` naming the argument (``model=Net``,
``loss=...``, ``optimizer=...``), agreed by every rank.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from crpsgd.errors import UsageError
from crpsgd.torch.optimizer import OptimizerUpdate
from crpsgd.torchprob.state_file import state_path
from crpsgd.torchprob.usercode import import_callable


def callable_name(obj: Any) -> str:
    """How messages and the log name a user's object: a function's or class's name."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, nn.Module) or not hasattr(obj, "__qualname__"):
        return type(obj).__name__
    return obj.__qualname__.rpartition("<locals>.")[2]  # a nested function: its own name


class ModelRecord:
    """What :mod:`crpsgd.torchprob` asks of an in-process model: ``build`` (named
    ``build_name``), ``origin`` (``model=Net``), ``loss`` and ``loss_origin`` (None: the
    default loss), and :meth:`attach`, which the builder calls with the built problem."""

    def __init__(self, model: Any, loss: Any = None, optimizer: Any = None) -> None:
        if isinstance(model, nn.Module):
            self.build: Callable[[], Any] = lambda: model
        elif isinstance(model, str):
            self.build = lambda: import_callable(model)()  # fails inside the build guard
        elif callable(model):
            self.build = model
        else:
            raise UsageError(
                f"model={model!r}: expected a torch.nn.Module, a callable returning one, or "
                "'pkg.module:fn' / 'path/file.py:fn'"
            )
        self.build_name = callable_name(model).rpartition(":")[2]  # "path/f.py:fn": fn
        self.origin = f"model={callable_name(model)}"
        for arg, value in (("loss", loss), ("optimizer", optimizer)):
            if value is not None and not callable(value):
                raise UsageError(f"{arg}={value!r}: not callable")
        self.loss = loss
        self.loss_origin = None if loss is None else f"loss={callable_name(loss)}"
        self.optimizer = optimizer
        self.problem: Any = None
        self.out = self.state_path = Path()
        self.is_root = True

    def attach(self, problem: Any, cfg: dict[str, Any], comm: Any) -> None:
        """Keep ``problem`` and where the run writes its log and ``<out stem>.pt``; install
        the optimizer."""
        self.problem = problem
        self.out = Path(cfg["out"])
        self.state_path = state_path(self.out)
        self.is_root = bool(getattr(comm, "is_root", True))
        if self.optimizer is not None:
            name = f"optimizer={callable_name(self.optimizer)}"
            problem.update = OptimizerUpdate(self.optimizer, problem, name, cfg["gamma"])
