"""One row of numbers per run: from its log, or from a committed results JSON.

The index (``<out-dir>/index.json``, written by :mod:`runner.execute`) lists every run of an
experiment per problem: ``{"name", "n_workers", "problems": {name: {"L", "run", "runs":
[entry, ...]}}}``, an entry naming its method, grid point, seed, status and log. A
single-problem definition's index has its ``"L"`` and ``"runs"`` at the top instead; read
here, that problem is named ``""``.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from bench.runner.definition import shape

ROOT = Path(__file__).resolve().parents[2]

#: ``settled``: the window of logged evaluations whose median must be below the target.
SETTLE_WINDOW = 5


def entry(spec, method: str, point: dict, seed: int, status: str, log: str) -> dict[str, Any]:
    """An index entry (key order as each shape's results JSON has always had it)."""
    if shape(spec) == "problems":
        return {"method": method, "point": point, "seed": seed, "status": status, "log": log}
    return {"method": method, "point": point, "seed": seed, "log": log, "status": status}


def read_index(path: Path) -> dict[str, Any]:
    index = json.loads(path.read_text())
    if "problems" not in index:  # the single-problem layout of earlier versions
        index["problems"] = {"": {"L": index.pop("L"), "run": None, "runs": index.pop("runs")}}
    index.setdefault("skipped", [])
    return index


def tail_score(run, budget: int, metric: str = "grad_norm_sq") -> float:
    """Median ``metric`` of the evaluations with SFO per worker ``>= budget / 2`` (the last
    value if there are none; ``inf`` for a run that did not complete)."""
    if run.status != "completed":
        return math.inf
    values, sfo = run.eval[metric], run.eval["sfo_per_worker"]
    tail = values[sfo >= budget / 2]
    return float(np.median(tail)) if tail.size else float(values[-1])


def settled(run, target: float, metric: str = "grad_norm_sq") -> tuple[int, int] | None:
    """``(round, SFO)`` of the first logged point at which the median ``metric`` of it and the
    ``SETTLE_WINDOW - 1`` logged points before it is ``<= target``: not a one-point dip, and
    known at that round (a trailing window; never before the first reach)."""
    values = run.eval[metric]
    for i in range(len(values)):
        if np.median(values[max(0, i - SETTLE_WINDOW + 1) : i + 1]) <= target:
            return int(run.eval["round"][i]), int(run.eval["sfo_per_worker"][i])
    return None


def target_row(run, budget: int, target: float, score: str) -> dict[str, Any]:
    """A problems-shape row: the score, final values and both rounds-to-target measures."""
    from crpsgd.analysis.report import reached

    ok = run.status == "completed"
    hit = reached(run, target, "grad_norm_sq") if ok else None
    stay = settled(run, target) if ok else None
    s = run.summary
    final = s.get("grad_norm_sq", math.inf)
    return {
        "status": run.status,
        "score": tail_score(run, budget) if score == "tail" else (final if ok else math.inf),
        "final_grad_norm_sq": final,
        "final_objective": s.get("objective", math.nan),
        "rounds": s.get("rounds"),
        "sfo_per_worker": s.get("sfo_per_worker"),
        "rounds_to_target": hit[0] if hit else None,
        "sfo_to_target": hit[1] if hit else None,
        "rounds_to_settle": stay[0] if stay else None,
        "sfo_to_settle": stay[1] if stay else None,
        "period": run.attrs.get("period"),
        "step_size": run.attrs.get("step_size"),
        "theta": run.attrs.get("theta"),
    }


def final_row(rec, metric: str, budget: int, score: str) -> dict[str, Any]:
    """A single-shape row: the final ``metric`` (``inf`` unless completed) and the summary."""
    s = rec.summary if rec is not None else {}
    done = rec is not None and rec.status == "completed"
    row = {
        "rounds": s.get("rounds"),
        "sfo_per_worker": s.get("sfo_per_worker"),
        "suboptimality": s.get(metric, math.nan) if done else math.inf,
        "objective": s.get("objective"),
        "test_accuracy": s.get("test_accuracy"),
        "wall_s": s.get("wall_s"),
        "comm_s": s.get("comm_s"),
    }
    if score == "tail":
        row["score"] = tail_score(rec, budget, metric) if rec is not None else math.inf
    return row


def rows_from_logs(spec, pdef: dict[str, Any], pinfo: dict[str, Any], entries=None) -> list:
    """Every run's row of one problem (``entries``: only these index entries)."""
    from crpsgd.runlog import read_run

    select = spec["select"]
    metric = spec.get("metric", "suboptimality")
    run = pinfo.get("run") or pdef["run"]
    rows = []
    for e in pinfo["runs"] if entries is None else entries:
        path = ROOT / e["log"]
        rec = read_run(path) if path.exists() else None
        if shape(spec) == "problems":
            if rec is not None:
                rows.append({**e, **target_row(rec, run["T"], pdef["target"], select["score"])})
        else:
            rows.append({**e, **final_row(rec, metric, int(run.get("T", 0)), select["score"])})
    return rows


def _numbers(value: Any) -> Any:
    """The results JSON's ``"inf"`` strings back to floats."""
    if value == "inf":
        return math.inf
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def index_from_results(spec, results_json: Path) -> tuple[dict[str, Any], list] | None:
    """The index and rows that a committed single-shape results JSON holds (every run's
    numbers, unrounded), or None where it cannot stand in for the logs: the problems shape
    keeps four digits there, which its tables print more of."""
    if shape(spec) != "single" or not results_json.exists():
        return None
    saved = _numbers(json.loads(results_json.read_text()))
    if "runs" not in saved or "L" not in saved:
        return None
    keep = ("method", "point", "seed", "log", "status")
    index = {
        "name": saved["name"],
        "n_workers": saved["n_workers"],
        "skipped": saved.get("skipped", []),
        "problems": {
            "": {
                "L": saved["L"],
                "run": saved.get("run"),
                "runs": [{k: r[k] for k in keep} for r in saved["runs"]],
            }
        },
    }
    return index, saved["runs"]


def median_or_none(values: list[Any]) -> float | None:
    """Median of ``values``, None if any is None (not reached on some seed)."""
    if any(v is None for v in values):
        return None
    return float(statistics.median(values))


def median_finite(values: list[float]) -> float:
    """Median with non-finite values counted as ``inf`` (nan for no values)."""
    finite = [v if math.isfinite(v) else math.inf for v in values]
    return statistics.median(finite) if finite else math.nan
