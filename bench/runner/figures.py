"""Figures of an experiment's chosen points (seed 0 of each), drawn with
:func:`crpsgd.analysis.plot.plot_runs` from the curves that the results JSON keeps (``"curves"``,
:mod:`runner.curves`): the same drawing after a run and from the committed results alone.
Each function returns how many figures it drew: 0 when a curve is missing (results of an
older version, which did not keep them) or matplotlib is missing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.runner import curves as c
from bench.runner.figure_rows import adaptive_picks


def _plot(
    rows: list[dict[str, Any]], labels: list[str], stem: Path, *, curves: dict, **options
) -> int:
    """One figure of the first log of each row (its curve from ``curves``), at ``stem`` plus
    each format's suffix."""
    logs = [r["logs"][0] for r in rows]
    if not logs or any(log not in curves for log in logs):
        return 0
    try:
        from crpsgd.analysis.plot import plot_runs

        runs = [c.record(curves[log], log) for log in logs]
        plot_runs(runs, stem, labels=labels, **options)
    except Exception as exc:  # matplotlib missing: the tables are still written
        print(f"no figure: {exc}", file=sys.stderr)
        return 0
    return 1


def figure_logs(report: dict[str, Any]) -> list[str]:
    """The logs whose curves the report's figures draw (the results JSON keeps them)."""
    if "methods" in report:
        picks = adaptive_picks(report)
        rows = report["methods"] if picks is None else [m for m, _ in picks]
        return list(dict.fromkeys(m["logs"][0] for m in rows))
    return list(dict.fromkeys(r["logs"][0] for p in report["problems"] for r in _score_rows(p)))


def _short(point: dict[str, Any], per_l: str = "/L") -> str:
    keys = {"b1": "B1", "rho": "rho", "batch": "B", "period": "H", "eta": "eta"}
    parts = [f"{keys[k]}={v}" for k, v in point.items() if k in keys and v != "auto"]
    parts.append(f"gamma={point['gamma_factor']:g}{per_l}")
    return ",".join(parts)


def draw_final(result: dict[str, Any], results: Path, out_dir: Path) -> int:
    """``<results>/<name>.png`` and ``<out_dir>/<name>.pdf``: every method's chosen points,
    or, for adaptive batches against a grid of fixed rho, the few of
    :func:`runner.figure_rows.adaptive_picks`."""
    curves = result.get("curves", {})
    per_l = "" if result.get("unit") == "absolute" else "/L"  # absolute step sizes
    title = result["title"]
    picks = adaptive_picks(result)
    if picks is None:
        rows = result["methods"]
        labels = [f"{m['label']}: " + _short(m["point"], per_l) for m in rows]
    else:
        rows, labels = [m for m, _ in picks], [label for _, label in picks]
        title += f"\n(every method and rho: {result['name']}.md)"
    options = {"curves": curves, "title": title}
    drawn = _plot(rows, labels, results / result["name"], formats=("png",), **options)
    if drawn:
        _plot(rows, labels, out_dir / result["name"], formats=("pdf",), **options)
    return drawn


def _score_rows(problem: dict[str, Any]) -> list[dict[str, Any]]:
    """The 'score' rows of a problem (tuned and restricted points), one per log."""
    chosen, seen = [], set()
    for r in problem["rows"]:
        if r["selected_by"].startswith("score") and r["logs"][0] not in seen:
            seen.add(r["logs"][0])
            chosen.append(r)
    return chosen


def draw_target(report: dict[str, Any], results: Path) -> int:
    """``<results>/<name>-<figure name>.png`` (the problem's name unless its data is a
    stand-in that ``[quick] figure_name`` names): the 'score' rows (tuned and restricted
    points)."""
    drawn = 0
    for p in report["problems"]:
        chosen = _score_rows(p)
        drawn += _plot(
            chosen,
            [f"{r['label']}: {r['params']}" for r in chosen],
            results / f"{report['name']}-{p.get('figure_name', p['name'])}",
            curves=report.get("curves", {}),
            metrics=("grad_norm_sq", "objective"),
            title=f"{p['title']} (target {p['target']:g})",
            formats=("png",),
        )
    return drawn
