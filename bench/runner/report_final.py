"""Tables of a single-problem definition (``bench/logreg_*.toml``): per method, the chosen grid
point's final metric (median, min..max over seeds), rounds, SFO and test accuracy, and a sweep
of PSGD's constant batches. ``build`` makes the results dict, ``markdown`` its table,
``to_json`` its JSON (every run's numbers, unrounded, so the tables can be redrawn from it)."""

from __future__ import annotations

import json
import math
import re
import statistics
from typing import Any

from bench.runner.definition import NOT_FLAGS, ranks_in_title, tune_seeds
from bench.runner.rows import median_finite
from bench.runner.select import final_picks, point_scores


def _median_of(runs, key: str, missing: float) -> float:
    return statistics.median(r[key] if r[key] is not None else missing for r in runs)


def method_rows(spec, method, rows) -> list[dict[str, Any]]:
    """The rows of one method: its chosen points over all their seeds."""
    scored, by_point = point_scores(rows, tune_seeds(spec))
    out = []
    for name, key, limit_used in final_picks(method, scored, spec["select"]):
        runs = by_point[key]
        subs = [r["suboptimality"] for r in runs]
        row = {
            "method": method["name"],
            "label": name,
            "point": json.loads(key),
            "select_max_rounds": limit_used,
            "median_suboptimality": median_finite(subs),
            "min_suboptimality": min(subs),
            "max_suboptimality": max(subs),
            "rounds": _median_of(runs, "rounds", math.inf),
            "sfo_per_worker": _median_of(runs, "sfo_per_worker", 0),
            "median_test_accuracy": _median_of(runs, "test_accuracy", math.nan),
            "median_wall_s": statistics.median(r["wall_s"] or math.nan for r in runs),
            "seeds": [r["seed"] for r in runs],
            "logs": [r["log"] for r in runs],
            "grid_points": len(by_point),
            "all_points": [
                {"point": json.loads(k), "tune_score": sc, "rounds": rd} for sc, rd, k in scored
            ],
        }
        if spec["select"]["score"] == "tail":  # the median over seeds of the runs' tail scores
            row["median_score"] = median_finite([r["score"] for r in runs])
        out.append(row)
    return out


def build(spec, index: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    methods = []
    for method in spec["method"]:
        mine = [r for r in rows if r["method"] == method["name"]]
        if mine:
            methods += method_rows(spec, method, mine)
    return {
        "name": spec["name"],
        "title": ranks_in_title(spec.get("title", spec["name"]), index["n_workers"]),
        "command": spec.get("command", ""),
        "run": index["problems"][""].get("run") or spec["run"],  # as the runs had it
        "grid": spec["grid"],
        "L": index["problems"][""]["L"],
        "metric": spec.get("metric", "suboptimality"),
        **({"score": "tail"} if spec["select"]["score"] == "tail" else {}),
        **({"unit": spec["unit"]} if spec.get("unit", "bound") != "bound" else {}),
        "n_workers": index["n_workers"],
        "methods": methods,
        "skipped": index["skipped"],
        # the definition's methods that ran: a candidate added to the definition since the
        # results were recorded is not part of their grid
        "method_defs": [
            d for d in spec.get("method_defs", []) if any(r["method"] == d["name"] for r in rows)
        ],
        "runs": rows,
    }


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=1, default=str).replace("Infinity", '"inf"') + "\n"


#: How the tables name a definition's ``metric``.
METRIC_NAMES = {"suboptimality": "f - f*", "grad_norm_sq": "‖grad f‖²", "objective": "loss"}


def markdown(result: dict[str, Any]) -> str:
    crs = [m for m in result["methods"] if m["method"] == "cr-psgd"]
    ref = next((m for m in crs if m.get("select_max_rounds")), crs[0] if crs else None)
    metric = METRIC_NAMES.get(result.get("metric", "suboptimality"), result.get("metric"))
    tail = result.get("score") == "tail"
    unit = result.get("unit", "bound")
    per_l = "" if unit == "absolute" else "/L"
    lines = [
        f"{result['title']} -- N = {result['n_workers']}, T = {result['run'].get('T')} SFO per "
        f"worker, medians over seeds {result['grid'].get('seeds')}, "
        + ("absolute step sizes" if unit == "absolute" else f"L = {result['L']:.4g}")
        + (" (a Hessian estimate)" if unit == "estimate" else ""),
        "",
        f"Command: `{result['command']}`" if result["command"] else "",
        "",
        "| method | chosen parameters | rounds | SFO/worker | "
        + (f"{metric}, 2nd-half median | " if tail else "")
        + f"{metric} (median) | {metric} (min..max) | rounds / CR-PSGD's | test acc |",
        "|---|---|---:|---:|" + ("---:|" if tail else "") + "---:|---:|---:|---:|",
    ]
    for m in result["methods"]:
        params = ", ".join(
            f"{k}={v}"
            for k, v in m["point"].items()
            if k not in ("algo", *NOT_FLAGS) and v != "auto"
        )
        params = re.sub(r"gamma_factor=([0-9.]+)", rf"gamma=\1{per_l}", params)
        ratio = f"{m['rounds'] / ref['rounds']:.3g}x" if ref and ref["rounds"] else "-"
        acc = m["median_test_accuracy"]
        lines.append(
            f"| {m['label']} | {params} | {m['rounds']:.0f} | {m['sfo_per_worker']:.0f} | "
            + (f"{m['median_score']:.3e} | " if tail else "")
            + f"{m['median_suboptimality']:.3e} | {m['min_suboptimality']:.2e}..."
            f"{m['max_suboptimality']:.2e} | {ratio} | "
            + ("-" if acc is None or acc != acc else f"{acc:.4f}")
            + " |"
        )
    grid = result["grid"]
    axes = []
    for d in result.get("method_defs", []):
        lists = [f"{k} in {v}" for k, v in d.items() if isinstance(v, list)]
        axes.append(f"{d['name']}: {', '.join(lists) if lists else 'fixed'}")
    lines += [
        "",
        f"Grid, the same step sizes for every method: gamma in {grid.get('gamma')}"
        + ("" if unit == "absolute" else " x 1/L")
        + "; "
        + "; ".join(axes)
        + f". Every grid point runs on seeds {grid.get('tune_seeds', grid.get('seeds'))} and is "
        + (
            f"scored by the median over the seeds of its runs' median {metric} over the "
            "evaluations in the second half of T"
            if tail
            else f"scored by its median final {metric}"
        )
        + "; the best point of each method (and, where a row "
        "says so, the best within a round limit) then runs on all seeds "
        f"{grid.get('seeds')}, and the row gives medians over them.",
    ]
    sweep = constant_batch_sweep(result)
    if sweep:
        lines += [
            "",
            "PSGD with a constant batch B, each B at its best step size of the grid "
            f"(tuning seed, {metric}{', 2nd-half median' if tail else ''}); compare the "
            "CR-PSGD rows above:",
            "",
            "| B | gamma | rounds | " + metric + " |",
            "|---:|---:|---:|---:|",
        ]
        lines += [f"| {b} | {g:g}{per_l} | {r} | {v:.3e} |" for b, g, r, v in sweep]
    for s in result["skipped"]:
        lines.append(f"Not run: {s['method']} ({s['reason']}).")
    return "\n".join(lines)


def constant_batch_sweep(result: dict[str, Any]) -> list[tuple[int, float, int, float]]:
    """For every constant batch B run by any PSGD method: the best step size on the tuning
    seeds, its rounds and its final metric."""
    tune = result["grid"].get("tune_seeds", result["grid"].get("seeds", [0]))
    best: dict[int, tuple[float, float, int]] = {}
    for r in result["runs"]:
        if r["point"].get("algo") != "psgd" or r["seed"] not in tune or r["rounds"] is None:
            continue
        b, value = int(r["point"]["batch"]), r.get("score", r["suboptimality"])
        if b not in best or value < best[b][0]:
            best[b] = (value, r["point"]["gamma_factor"], r["rounds"])
    return [(b, g, rd, v) for b, (v, g, rd) in sorted(best.items())]
