"""The names that say what a logged run was and tell several runs apart (``crpsgd info``,
``report``, ``plot`` and ``project``).

A run's label is its algorithm and the terms that its registered parts declare
(:attr:`~crpsgd.registry.part_types.AlgorithmPart.label`,
:attr:`~crpsgd.registry.part_types.SchedulePart.label`): the schedule's terms first, preceded by
the schedule's name when it is not the algorithm's own (``cr-psgd(adaptive,B1=16,eta=1)``), then
the algorithm's (``theta=...``). A part without a label function is labelled by its declared
parameters; a log whose algorithm is not registered here (a plugin not loaded) by the algorithm's
name alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from crpsgd.errors import UsageError
from crpsgd.runlog import RunRecord


def format_value(value: object, spec: str = ".6g") -> str:
    """A table cell: "-" for None, "" and NaN, floats in ``spec``."""
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else format(value, spec)
    return str(value)


def _parts(cfg: dict[str, Any]) -> tuple[Any, Any]:
    """``(algorithm part, schedule part)`` of a logged configuration; None for what is not
    registered (or when the registry cannot load)."""
    from crpsgd.registry import parts

    try:
        algo = parts.algorithm(str(cfg.get("algo")))
    except UsageError:
        return None, None
    name = cfg.get("schedule") or "auto"
    if not algo.uses_schedule and not (algo.inner_schedule and name != "auto"):
        return algo, None
    try:
        return algo, parts.schedule(algo.default_schedule if name == "auto" else name)
    except UsageError:
        return algo, None


def declared_terms(part: Any, cfg: dict[str, Any], attrs: dict[str, Any]) -> list[str]:
    """The label terms of one part: its ``label(cfg, attrs)``, or ``name=value`` for each of
    its declared parameters."""
    if part.label is not None:
        return list(part.label(cfg, attrs))
    return [f"{p.name}={cfg[p.name]}" for p in part.params if cfg.get(p.name) is not None]


def schedule_name(run: RunRecord) -> str:
    """The batch schedule the run used (``-`` for an algorithm without one)."""
    cfg = dict(run.config)
    cfg.setdefault("algo", run.attrs.get("algorithm"))
    _, sched = _parts(cfg)
    return sched.name if sched is not None else "-"


def _own_schedule(run: RunRecord) -> bool:
    """Whether the run used its algorithm's own schedule (or has none)."""
    cfg = dict(run.config)
    cfg.setdefault("algo", run.attrs.get("algorithm"))
    algo, sched = _parts(cfg)
    return sched is None or sched.name == algo.default_schedule


def label(run: RunRecord, gamma: bool = False) -> str:
    """Algorithm and the terms its parts declare, e.g. ``cr-psgd(B1=8,rho=1.2)``,
    ``cr-psgd(adaptive,B1=16,eta=1)`` or ``psgd(B=8)``, then a learning-rate scaling rule
    other than ``constant`` (``lr_scaling=sqrt``); ``gamma=True`` adds the step size
    actually used."""
    cfg = dict(run.config)
    algo_name = run.attrs.get("algorithm", cfg.get("algo", "?"))
    cfg.setdefault("algo", algo_name)
    algo, sched = _parts(cfg)
    terms: list[str] = []
    if sched is not None:
        if sched.name != algo.default_schedule:
            terms.append(sched.name)
        terms += declared_terms(sched, cfg, run.attrs)
    if algo is not None:
        terms += declared_terms(algo, cfg, run.attrs)
    if cfg.get("lr_scaling") not in (None, "constant"):  # the step follows the batch
        terms.append(f"lr_scaling={cfg['lr_scaling']}")
    if gamma and isinstance(run.attrs.get("step_size"), float):
        terms.append(f"gamma={run.attrs['step_size']:.3g}")
    return f"{algo_name}({','.join(terms)})" if terms else str(algo_name)


#: Settings that may tell runs apart, in the order shown (read by :func:`field`).
DISTINGUISHING = ("data", "problem", "schedule", "N", "seed", "T", "lam", "gamma")
#: Fields that the label already carries when it is drawn with ``gamma=True``.
IN_LABEL = ("gamma", "schedule")

_DEFAULTS = {"density=1.0", "noise=0.05", "scale=1.0"}  # crpsgd.data.synthetic


def data_name(run: RunRecord) -> str:
    """The training data's short name (a synthetic spec without its default keys; a file's
    name, with the stand-in note when there is one)."""
    path = str(run.attrs.get("data_path") or run.config.get("data") or "?")
    if run.attrs.get("data_kind") == "synthetic" or path.startswith("synthetic"):
        keys = [kv for kv in path.partition(":")[2].split(",") if kv and kv not in _DEFAULTS]
        return "synthetic:" + ",".join(keys)
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    note = data_note(run)
    return f"{name} [{note}]" if note else name


def data_note(run: RunRecord) -> str:
    """The short form of the log's ``data_note`` (up to its first colon): what the data is
    when its name does not say it, e.g. "scikit-learn digits stand-in (not CIFAR-10)"; ""
    for real data."""
    note = str(run.attrs.get("data_note") or "")
    return "" if note in ("", "CIFAR-10 binary version") else note.split(":", 1)[0].strip()


def field(run: RunRecord, name: str) -> str:
    """The value of one field of :data:`DISTINGUISHING` (or ``file``: the log's stem)."""
    if name == "file":
        return run.path.stem
    if name == "data":
        return data_name(run)
    if name == "problem":
        return str(run.attrs.get("problem") or run.config.get("problem") or "logreg")
    if name == "schedule":
        return schedule_name(run)
    if name == "N":
        return format_value(run.attrs.get("n_workers"))
    if name == "gamma":
        return format_value(run.attrs.get("step_size"), ".3g")
    if name == "seed":
        return format_value(run.attrs.get("seed", run.config.get("seed")))
    return format_value(run.config.get(name))


def differing(runs: Sequence[RunRecord]) -> list[str]:
    """The fields of :data:`DISTINGUISHING` whose values are not all equal across ``runs``
    (``schedule`` only when some run chose one that is not its algorithm's own), plus
    ``file`` (the log's stem) when those still leave two runs with the same name."""
    fields = [f for f in DISTINGUISHING if len({field(r, f) for r in runs}) > 1]
    if all(map(_own_schedule, runs)) and "schedule" in fields:
        fields.remove("schedule")  # each algorithm's own: the label says it already
    names = [(label(r), *(field(r, f) for f in fields)) for r in runs]
    if len(set(names)) < len(names):
        fields.append("file")
    return fields


def distinguishing_labels(runs: Sequence[RunRecord], gamma: bool = True) -> list[str]:
    """One name per run: algorithm and parameters, then ``key=value`` for each field of
    :func:`differing` that the label does not already carry."""
    skip = IN_LABEL if gamma else ("schedule",)
    fields = [f for f in differing(runs) if f not in skip]
    return [
        " ".join([label(r, gamma=gamma), *(f"{f}={field(r, f)}" for f in fields)]) for r in runs
    ]
