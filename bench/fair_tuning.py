"""The fair protocol's tuning, per method: how its grid points scored on the tuning seed.

A point's score is the runner's (:func:`bench.runner.select.point_scores`): the median over
the tuning seeds of the run's median training loss over the evaluations in the second half
of ``T``. A point whose score is not finite, or at least ``ln 10`` (the loss of a uniform
guess over the 10 classes of CIFAR-10 and of the digits stand-in), learned nothing: it is
counted as *no better than chance*. A chosen step size at the smallest or the largest of the
common grid is flagged: the method's best may lie outside the grid.
"""

from __future__ import annotations

import json
import math
from typing import Any

CHANCE = math.log(10.0)


def _axes(points: list[dict[str, Any]]) -> list[str]:
    """The parameters that differ between a method's grid points, in the points' order."""
    keys = list(dict.fromkeys(k for p in points for k in p))
    return [k for k in keys if len({json.dumps(p.get(k)) for p in points}) > 1]


def _short(point: dict[str, Any], axes: list[str]) -> str:
    names = {"gamma_factor": "gamma"}
    return ", ".join(f"{names.get(k, k)}={point.get(k)}" for k in axes) or "-"


def tuning_row(name: str, scored: list[tuple], by_point: dict, gammas: list[float]) -> dict:
    """One method's tuning: ``scored`` is ``point_scores``'s best-first list."""
    points = [json.loads(key) for _, _, key in scored]
    axes = _axes(points)
    if "gamma_factor" in points[0] and "gamma_factor" not in axes:
        axes.insert(0, "gamma_factor")  # the step size is always named
    scores = [score for score, _, _ in scored]
    chosen = points[0]
    gamma = chosen.get("gamma_factor")
    edge = None
    if gamma is not None and len(gammas) > 1:
        edge = "smallest" if gamma == min(gammas) else "largest" if gamma == max(gammas) else ""
    return {
        "method": name,
        "points": len(points),
        "chance": sum(1 for s in scores if not math.isfinite(s) or s >= CHANCE),
        "chosen": _short(chosen, axes),
        "chosen_score": scores[0],
        "next": _short(points[1], axes) if len(points) > 1 else "-",
        "next_score": scores[1] if len(points) > 1 else math.nan,
        "gamma_edge": edge,
    }


def _fmt(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4f}"


def tuning_markdown(rows: list[dict[str, Any]]) -> str:
    """The tuning table: grid points, those no better than chance, the chosen point and the
    runner-up with their scores, and whether the chosen step size is at the grid's edge."""
    lines = [
        "### Tuning (the tuning seed)",
        "",
        "Score: the median training loss over the evaluations in the second half of T (lower "
        f"is better); no better than chance: not finite or at least ln 10 = {CHANCE:.3f}.",
        "",
        "| method | grid points | no better than chance | chosen | score | runner-up | score "
        "| step size at the grid's edge |",
        "|---|---:|---:|---|---:|---|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['points']} | {r['chance']} | {r['chosen']} | "
            f"{_fmt(r['chosen_score'])} | {r['next']} | {_fmt(r['next_score'])} | "
            f"{r['gamma_edge'] or '-'} |"
        )
    return "\n".join(lines) + "\n"
