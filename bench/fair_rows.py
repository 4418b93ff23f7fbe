"""The numbers of the fair-protocol table (``bench/fair_dl.toml``), from each method's chosen
point on its seeds; no runs. :mod:`bench.fair_table` reads the logs and writes the table.

Per method (its chosen point, one :class:`Curve` per seed):

* **final test accuracy**: median and range (min, max) over the seeds;
* **target**: the best method's median final accuracy minus one point (``0.01``);
* **rounds to target**: per seed the first evaluated round whose test accuracy is at least
  the target (None: never), the median over the seeds that reached it, and how many did;
* **epochs**: SFO of all workers over the training rows, ``N SFO / n``, of the whole run and
  at the target;
* **seconds**: rank 0's compute, communication (the rounds' Allreduce) and evaluation
  seconds, medians over the seeds;
* **projected wall time to target** on ``p`` nodes of a network preset
  (:func:`crpsgd.analysis.projection.project` on the rounds up to the target: weak scaling,
  the logged per-worker batches kept).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass

import numpy as np

from crpsgd.analysis.network import PRESETS
from crpsgd.analysis.projection import project
from crpsgd.analysis.projection_profile import RunProfile

#: One point of accuracy.
POINT = 0.01
#: The clusters of the table: (column name, network preset), 8 nodes.
CLUSTERS = (("10 GbE", "10gbe"), ("InfiniBand", "ib-hdr"))
NODES = 8


@dataclass(frozen=True)
class Curve:
    """One run's test accuracy at its evaluations (``rounds``, ``epochs``) and its totals."""

    label: str
    rounds: np.ndarray
    epochs: np.ndarray
    accuracy: np.ndarray
    total_rounds: int
    total_epochs: float
    compute_s: float
    comm_s: float
    eval_s: float
    profile: RunProfile | None = None

    @property
    def final(self) -> float:
        return float(self.accuracy[-1]) if self.accuracy.size else math.nan


def first_reach(curve: Curve, target: float) -> int | None:
    """Index of the first evaluation with accuracy ``>= target`` (None: never)."""
    hit = np.flatnonzero(np.asarray(curve.accuracy) >= target)
    return int(hit[0]) if hit.size else None


def target_of(methods: dict[str, list[Curve]]) -> float:
    """The best method's median final accuracy minus one point."""
    return max(statistics.median(c.final for c in curves) for curves in methods.values()) - POINT


def profile_until(profile: RunProfile, rounds: int) -> RunProfile:
    """The profile of a run's first ``rounds`` rounds (driver seconds pro rata)."""
    total = profile.rounds
    return dataclasses.replace(
        profile,
        batches=profile.batches[:rounds],
        local_steps=profile.local_steps[:rounds],
        samples=None if profile.samples is None else profile.samples[:rounds],
        other_s=profile.other_s * rounds / total if total else 0.0,
    )


def projected_to_target(profile: RunProfile | None, rounds: int | None, preset: str) -> float:
    """Projected wall seconds of the first ``rounds`` rounds on :data:`NODES` nodes."""
    if profile is None or rounds is None:
        return math.nan
    return project(profile_until(profile, rounds), PRESETS[preset], NODES).wall_s


def _median(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def method_row(name: str, curves: list[Curve], target: float) -> dict[str, object]:
    """The table's row of one method (see the module docstring)."""
    finals = [c.final for c in curves]
    reach = [first_reach(c, target) for c in curves]
    to_rounds = [int(c.rounds[i]) for c, i in zip(curves, reach, strict=True) if i is not None]
    to_epochs = [float(c.epochs[i]) for c, i in zip(curves, reach, strict=True) if i is not None]
    row: dict[str, object] = {
        "method": name,
        "label": curves[0].label,
        "seeds": len(curves),
        "acc_median": statistics.median(finals),
        "acc_min": min(finals),
        "acc_max": max(finals),
        "reached": len(to_rounds),
        "rounds_to_target": statistics.median(to_rounds) if to_rounds else None,
        "epochs_to_target": statistics.median(to_epochs) if to_epochs else None,
        "rounds": statistics.median(c.total_rounds for c in curves),
        "epochs": statistics.median(c.total_epochs for c in curves),
        "compute_s": _median([c.compute_s for c in curves]),
        "comm_s": _median([c.comm_s for c in curves]),
        "eval_s": _median([c.eval_s for c in curves]),
    }
    for column, preset in CLUSTERS:
        seconds = [
            projected_to_target(c.profile, None if i is None else int(c.rounds[i]), preset)
            for c, i in zip(curves, reach, strict=True)
        ]
        row[f"projected_s {column}"] = _median(seconds)
    return row


def table_rows(methods: dict[str, list[Curve]]) -> tuple[float, list[dict[str, object]]]:
    """``(target, one row per method)``, best median final accuracy first."""
    target = target_of(methods)
    rows = [method_row(name, curves, target) for name, curves in methods.items()]
    rows.sort(key=lambda r: -float(r["acc_median"]))  # type: ignore[arg-type]
    return target, rows
