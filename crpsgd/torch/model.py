"""The model, loss and optimizer of :func:`crpsgd.torch.train` as one record that the torch
problem's builder finds under ``--model=python:...`` (:mod:`crpsgd.data.in_process`).

``model`` is an ``nn.Module`` (built identically on every rank: the run checks), a callable
returning one (called under ``torch.manual_seed(seed)``, as ``--model`` builds are), or a
``"pkg.module:fn"`` / ``"path/file.py:fn"`` string. Whatever fails in the user's code before
the rounds is one :class:`~crpsgd.errors.UsageError` naming the argument (``model=Net``,
``loss=...``, ``optimizer=...``), agreed by every rank.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from crpsgd.errors import UsageError
from crpsgd.files.paths import check_output
from crpsgd.torch.optimizer import OptimizerUpdate


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
            self.build = lambda: _load(model)()
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
        """Keep ``problem``; install the optimizer; check that ``<out stem>.pt`` can be
        written (on rank 0, before any round)."""
        self.problem = problem
        self.out = Path(cfg["out"])
        self.state_path = self.out.with_suffix(".pt")
        self.is_root = bool(getattr(comm, "is_root", True))
        if self.is_root:
            where = f"--out={cfg['out']}: the state_dict file {self.state_path}"
            if self.state_path.exists() and not cfg["overwrite"]:
                raise UsageError(f"{where} exists (pass overwrite=True to replace it)")
            check_output("--out", self.state_path)
        if self.optimizer is not None:
            name = f"optimizer={callable_name(self.optimizer)}"
            problem.update = OptimizerUpdate(self.optimizer, problem, name)


def _load(spec: str) -> Callable[[], Any]:
    """The callable of ``pkg.module:fn`` or ``path/file.py:fn`` (raises inside the guard of
    the build, so that a failure is the one message naming ``model=...``)."""
    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr:
        raise ValueError(f"expected 'pkg.module:fn' or 'path/file.py:fn', not {spec!r}")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise FileNotFoundError(f"no file {where}")
        spec_ = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec_)
        spec_.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise AttributeError(f"{where} has no callable {attr!r}")
    return fn
