"""The Python entry point of a torch run: ``crpsgd.torchprob.api.train(build, data, ...)``.

Run the same script on every rank (``mpiexec -n 4 python train.py``)::

    from torch import nn
    from crpsgd.torchprob.api import train

    def build():                     # module level: every rank imports it by name
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))

    if __name__ == "__main__":
        result = train(build, "cifar10:data/cifar-10-batches-bin", algo="cr-psgd",
                       b1=16, rho=1.1, gamma=0.1, T=50000, out="runs/mine.h5")

``build`` is a callable at the top level of an importable module (or a
``"pkg.module:build"`` string, as ``--model``); the keywords are ``crpsgd run``'s parameters
under their names (``micro_batch=64``, ``lr_schedule="step"``). It is exactly ``crpsgd run
--problem torch --model pkg.module:build --data DATA ...``: same checks, log, checkpoints;
it returns the run's :class:`~crpsgd.algorithms.parallel_sgd.RunResult`. A bad argument
raises :class:`~crpsgd.errors.UsageError` on every rank.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from crpsgd.errors import UsageError


def model_spec(build: Callable[..., Any] | str) -> str:
    """``"pkg.module:name"`` of a top-level callable (``__main__`` is the script's own
    file, importable on every rank as its module name)."""
    if isinstance(build, str):
        return build
    module, name = getattr(build, "__module__", None), getattr(build, "__qualname__", "")
    if module is None or not name or "<" in name or "." in name:
        raise UsageError(
            f"model {build!r}: pass a function defined at the top level of a module "
            "(every rank imports it by name), or a 'pkg.module:build' string"
        )
    if module == "__main__":
        main = sys.modules["__main__"]
        spec = getattr(main, "__spec__", None)
        if spec is not None and spec.name:
            module = spec.name
        else:  # a script run by path: its directory is sys.path[0] on every rank
            from pathlib import Path

            module = Path(getattr(main, "__file__", "__main__")).stem
    return f"{module}:{name}"


def train(build: Callable[..., Any] | str, data: str, **flags: Any) -> Any:
    """Train the model of ``build`` on ``data`` with ``crpsgd run``'s parameters ``flags``
    (collective: every rank calls it with the same arguments)."""
    from crpsgd.session.run import run_from_cli

    values = {"problem": "torch", "model": model_spec(build), "data": data}
    for key, value in flags.items():
        values[key] = value if value is None else str(value)
    return run_from_cli(values)
