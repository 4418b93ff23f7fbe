"""Figures of an experiment's chosen points (seed 0 of each), drawn from their logs with
:func:`crpsgd.analysis.plot.plot_runs`. Each function returns how many figures it drew: 0 when the
logs are not there (results redrawn from a committed JSON) or matplotlib is missing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.runner.rows import ROOT


def _plot(rows: list[dict[str, Any]], labels: list[str], stem: Path, **options) -> int:
    """One figure of the first log of each row, at ``stem`` plus each format's suffix."""
    try:
        from crpsgd.analysis.plot import plot_runs
        from crpsgd.runlog import read_run
    except ImportError:
        return 0
    have = [(r, lab) for r, lab in zip(rows, labels, strict=True) if (ROOT / r["logs"][0]).exists()]
    if not have:
        return 0
    runs = [read_run(ROOT / r["logs"][0]) for r, _ in have]
    try:
        plot_runs(runs, stem, labels=[lab for _, lab in have], **options)
    except Exception as exc:  # matplotlib missing: the tables are still written
        print(f"no figure: {exc}", file=sys.stderr)
        return 0
    return 1


def _short(point: dict[str, Any], per_l: str = "/L") -> str:
    keys = {"b1": "B1", "rho": "rho", "batch": "B", "period": "H", "eta": "eta"}
    parts = [f"{keys[k]}={v}" for k, v in point.items() if k in keys and v != "auto"]
    parts.append(f"gamma={point['gamma_factor']:g}{per_l}")
    return ",".join(parts)


def draw_final(result: dict[str, Any], results: Path, out_dir: Path) -> int:
    """``<results>/<name>.png`` and ``<out_dir>/<name>.pdf``: every method's chosen points."""
    rows = result["methods"]
    per_l = "" if result.get("unit") == "absolute" else "/L"  # absolute step sizes
    labels = [f"{m['label']}: " + _short(m["point"], per_l) for m in rows]
    title = result["title"]
    drawn = _plot(rows, labels, results / result["name"], title=title, formats=("png",))
    if drawn:
        _plot(rows, labels, out_dir / result["name"], title=title, formats=("pdf",))
    return drawn


def draw_target(report: dict[str, Any], results: Path) -> int:
    """``<results>/<name>-<figure name>.png`` (the problem's name unless its data is a
    stand-in that ``[quick] figure_name`` names): the 'score' rows (tuned and restricted
    points)."""
    drawn = 0
    for p in report["problems"]:
        chosen, seen = [], set()
        for r in p["rows"]:
            if r["selected_by"].startswith("score") and r["logs"][0] not in seen:
                seen.add(r["logs"][0])
                chosen.append(r)
        drawn += _plot(
            chosen,
            [f"{r['label']}: {r['params']}" for r in chosen],
            results / f"{report['name']}-{p.get('figure_name', p['name'])}",
            metrics=("grad_norm_sq", "objective"),
            title=f"{p['title']} (target {p['target']:g})",
            formats=("png",),
        )
    return drawn
