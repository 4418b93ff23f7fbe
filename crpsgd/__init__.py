"""crpsgd: communication-reduced parallel SGD with dynamic batch sizes over MPI.

Implements CR-PSGD (Yu & Jin, ICML 2019, Algorithm 1) and its baselines on top of
mpi4py collectives, Numba gradient kernels and HDF5 run logs.

The public face: what a plugin or a script needs, imported on first use (``import crpsgd``
loads neither MPI nor Numba):

* parts: :class:`Param` and its constraints, :func:`register_problem`,
  :func:`register_algorithm`, :func:`register_schedule` and their records;
* run logs: :func:`read_run` and :class:`RunRecord`;
* errors: :class:`UsageError`, :class:`DataFormatError`, :class:`UserCodeError`.

The layout, one job per subpackage (bottom to top): ``kernels`` (Numba), ``params``,
``files``, ``comm``, ``data``, ``runlog``, ``problems``, ``schedules``, ``algorithms``,
``registry`` (parts, plugins, configuration), ``analysis``, ``session`` (what ``crpsgd run``
does on N ranks), ``cli`` (argparse only), ``builtin`` (the built-in parts) and ``torchprob``
(the PyTorch extra).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "Param": "crpsgd.params",
    "Interval": "crpsgd.params",
    "positive": "crpsgd.params",
    "at_least": "crpsgd.params",
    "at_most": "crpsgd.params",
    "above_one": "crpsgd.params",
    "all_of": "crpsgd.params",
    "register_problem": "crpsgd.registry.parts",
    "register_algorithm": "crpsgd.registry.parts",
    "register_schedule": "crpsgd.registry.parts",
    "ProblemPart": "crpsgd.registry.parts",
    "AlgorithmPart": "crpsgd.registry.parts",
    "SchedulePart": "crpsgd.registry.parts",
    "ProblemContext": "crpsgd.registry.parts",
    "RunContext": "crpsgd.registry.parts",
    "LoadedData": "crpsgd.registry.parts",
    "read_run": "crpsgd.runlog",
    "RunRecord": "crpsgd.runlog",
    "UsageError": "crpsgd.errors",
    "DataFormatError": "crpsgd.errors",
    "UserCodeError": "crpsgd.errors",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'crpsgd' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
