"""Registered parts: the problems, algorithms and batch schedules ``crpsgd run`` can combine.

A part is one module that, when imported, calls :func:`register_problem`,
:func:`register_algorithm` or :func:`register_schedule` with a record that declares its
``name``, ``help``, its own parameters (``params``: :class:`~crpsgd.params.Param` records)
and what it needs from the others. :mod:`crpsgd.session.run` wires any problem to any algorithm
through these records and never names one. The built-in parts are the modules of
:data:`BUILTIN_PARTS` (one line per part); more come from the modules named in the
environment variable ``CRPSGD_PLUGINS`` (comma-separated ``package.module`` names, imported
after the built-in ones on every rank; an import error is one message, exit status 2).

Parameters: the composed table (:func:`all_params`) is the common parameters of
:mod:`crpsgd.registry.config`, then each part's, each name once (parts may share one ``Param``
object, as ``cr-psgd`` and ``cr-psgd-catalyst`` share ``--b1``/``--rho`` through the exponential
schedule). A parameter is *active* when a selected part declares it (:func:`active_params`);
given on the command line for an unselected part it is an error (:func:`check_selected`).

The records, their hooks and the contexts the hooks receive are in
:mod:`crpsgd.registry.part_types`.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from crpsgd.errors import UsageError
from crpsgd.params import Param
from crpsgd.registry.part_types import (
    AlgorithmPart,
    LoadedData,
    ProblemContext,
    ProblemPart,
    RunContext,
    SchedulePart,
    tabular_data,
)

__all__ = [
    "AlgorithmPart",
    "LoadedData",
    "ProblemContext",
    "ProblemPart",
    "RunContext",
    "SchedulePart",
    "tabular_data",
    "register_problem",
    "register_algorithm",
    "register_schedule",
]

#: The built-in parts, one module each; importing a module registers its part.
BUILTIN_PARTS = (
    "crpsgd.builtin.logreg",
    "crpsgd.builtin.logreg_nonconvex",
    "crpsgd.builtin.mlp",
    "crpsgd.builtin.torch_model",
    "crpsgd.builtin.torch_data",
    "crpsgd.builtin.cr_psgd",
    "crpsgd.builtin.psgd",
    "crpsgd.builtin.cr_psgd_catalyst",
    "crpsgd.builtin.local_sgd",
    "crpsgd.builtin.post_local_sgd",
    "crpsgd.builtin.diloco",
    "crpsgd.builtin.exponential",
    "crpsgd.builtin.constant",
    "crpsgd.builtin.adaptive",
)
PLUGINS_ENV = "CRPSGD_PLUGINS"
#: ``--schedule``: a parameter of every algorithm that runs the loop with a batch schedule
#: (and of those whose inner steps take one: ``AlgorithmPart.inner_schedule``).
SCHEDULE_PARAM = Param(
    "schedule",
    str,
    "auto",
    "batch schedule of the loop; 'auto' = the algorithm's own (local-sgd, post-local-sgd, "
    "diloco: the constant --batch; a schedule grows their inner steps' batch)",
)
#: ``--lr-scaling``: likewise (the step of a schedule-driven loop follows its batch;
#: :mod:`crpsgd.schedules.lr_scaling`). Given to another algorithm it is refused by name.
LR_SCALING_PARAM = Param(
    "lr_scaling",
    str,
    "constant",
    "step size relative to the batch: constant (the paper's), linear (x B_t/B_1), sqrt "
    "(x sqrt(B_t/B_1)) or adascale (AdaScale's gain from the noise estimate)",
    ("constant", "linear", "sqrt", "adascale"),
)
FLAGS = {"problem": "--problem", "algo": "--algo", "schedule": "--schedule"}

_PARTS: dict[str, dict[str, Any]] = {"problem": {}, "algo": {}, "schedule": {}}
_loaded = False


def register_problem(part: ProblemPart) -> ProblemPart:
    return _register("problem", part)


def register_algorithm(part: AlgorithmPart) -> AlgorithmPart:
    return _register("algo", part)


def register_schedule(part: SchedulePart) -> SchedulePart:
    return _register("schedule", part)


def _register(kind: str, part: Any) -> Any:
    if part.name in _PARTS[kind]:
        raise ValueError(f"{FLAGS[kind]} {part.name} is registered twice")
    known = {p.name: p for p in declared()}
    for p in part.params:
        if p.name in known and known[p.name] != p:
            raise ValueError(
                f"{FLAGS[kind]} {part.name}: parameter {p.flag} differs from the one of "
                "another part (share the same Param record)"
            )
    _PARTS[kind][part.name] = part
    return part


def load() -> None:
    """Import the built-in parts and the plugins of ``$CRPSGD_PLUGINS`` (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_PARTS:
        importlib.import_module(module)
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise UsageError(
                f"{PLUGINS_ENV}={os.environ[PLUGINS_ENV]}: cannot import {module!r} "
                f"({type(exc).__name__}: {exc})"
            ) from None


def registered(kind: str) -> list[Any]:
    """The parts of ``kind`` (``problem``, ``algo``, ``schedule``) in registration order."""
    load()
    return list(_PARTS[kind].values())


def names(kind: str) -> list[str]:
    return [p.name for p in registered(kind)]


def _lookup(kind: str, name: str) -> Any:
    load()
    try:
        return _PARTS[kind][name]
    except KeyError:
        raise UsageError(
            f"{FLAGS[kind]}={name!r}: must be one of {', '.join(_PARTS[kind])}"
        ) from None


def problem(name: str) -> ProblemPart:
    return _lookup("problem", name)


def algorithm(name: str) -> AlgorithmPart:
    return _lookup("algo", name)


def schedule(name: str) -> SchedulePart:
    return _lookup("schedule", name)


def schedule_of(cfg: dict[str, Any]) -> SchedulePart | None:
    """The schedule the run uses: ``--schedule``, or the algorithm's own for ``auto``; None
    for an algorithm without a schedule (or with an inner schedule and ``auto``)."""
    algo = algorithm(cfg["algo"])
    name = cfg.get("schedule", "auto")
    if not algo.uses_schedule:
        return schedule(name) if algo.inner_schedule and name not in ("auto", None) else None
    return schedule(algo.default_schedule if name == "auto" else name)


def schedule_log_columns(cfg: dict[str, Any]) -> tuple[str, ...]:
    """The optional ``/rounds`` columns the run's schedule-driven loop writes (none without
    a schedule): the schedule part's own, and ``lr_scale`` with a ``--lr-scaling`` other
    than ``constant``."""
    part = schedule_of(cfg)
    if part is None:
        return ()
    scaled = ("lr_scale",) if cfg.get("lr_scaling", "constant") != "constant" else ()
    return (*(part.log_columns(cfg) if part.log_columns is not None else ()), *scaled)


def build_schedule(cfg: dict[str, Any], n_workers: int, problem: Any) -> Any:
    """The run's schedule object (None without one), bound to the rank count and the
    problem when it asks for them (``bind(n_workers, problem)``, which may refuse the
    combination with a UsageError)."""
    part = schedule_of(cfg)
    if part is None:
        return None
    obj = part.build(cfg)
    bind = getattr(obj, "bind", None)
    if bind is not None:
        bind(n_workers, problem)
    if cfg.get("lr_scaling") == "adascale":
        from crpsgd.schedules.observed import check_noise_for_step

        check_noise_for_step(obj, n_workers, problem)
    return obj


def schedule_warning(cfg: dict[str, Any], gamma: float, settings: dict[str, float]) -> str | None:
    """The selected schedule's warning for this run (None: none, or nothing known of mu)."""
    sched, prob = schedule_of(cfg), problem(cfg["problem"])
    if sched is None or sched.warning is None or prob.mu_lower_bound is None:
        return None
    mu = algorithm(cfg["algo"]).loop_mu(prob.mu_lower_bound(cfg), settings)
    return sched.warning(cfg, gamma, mu)


def selected(cfg: dict[str, Any]) -> list[Any]:
    """The problem, the algorithm and (if it has one) the schedule of ``cfg``."""
    sched = schedule_of(cfg)
    return [problem(cfg["problem"]), algorithm(cfg["algo"])] + ([sched] if sched else [])


def declared() -> list[Param]:
    """Every parameter that a registered part declares (with repeats)."""
    return [p for kind in _PARTS for part in _PARTS[kind].values() for p in part.params]


def by_kind() -> dict[str, dict[str, Any]]:
    """The registered parts of each kind (``problem``, ``algo``, ``schedule``) by name."""
    load()
    return _PARTS
