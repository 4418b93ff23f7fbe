"""Tables of a problems definition (``bench/catalyst.toml``): per problem and method, the rows
of the ``[select]`` rules with the score, the final ``f``, rounds, SFO and both rounds-to-target
measures (*first*: the first logged evaluation with ``||grad f||^2 <= target``; *settled*: the
first at which the median of it and the four before it is ``<= target``; evaluations are
``eval_factor`` apart in SFO, so both are upper bounds at that resolution). The JSON keeps
four significant digits and one line per run."""

from __future__ import annotations

import json
import math
from typing import Any

from bench.runner.definition import ranks_in_title, tune_seeds
from bench.runner.rows import median_or_none
from bench.runner.select import target_picks

SEED_MEDIANS = (
    "score",
    "final_grad_norm_sq",
    "final_objective",
    "rounds",
    "sfo_per_worker",
    "rounds_to_target",
    "sfo_to_target",
    "rounds_to_settle",
    "sfo_to_settle",
)


def describe_point(method: dict[str, Any], point: dict[str, Any], unit: str = "bound") -> str:
    """The point's parameters; ``gamma`` in units of ``1/L`` (``1/(L+theta)`` for Catalyst)
    unless the problem's step sizes are absolute (``unit = "absolute"``: no ``L``)."""
    names = {"b1": "B1", "rho": "rho", "batch": "b" if method["algo"] == "local-sgd" else "B"}
    names.update(period="H", theta="theta", gamma="gamma", outer="K")
    parts = []
    for key, value in point.items():
        if key not in names or (key == "period" and value == "auto"):
            continue
        if key == "theta":
            parts.append(f"theta={value}L")
        elif key == "gamma" and unit == "absolute":
            parts.append(f"gamma={value}")
        elif key == "gamma":
            per = "1/(L+theta)" if method["algo"] == "cr-psgd-catalyst" else "1/L"
            parts.append(f"gamma={value}x{per}")
        else:
            parts.append(f"{names[key]}={value}")
    if point.get("period") == "auto":
        parts.append(f"H=auto({point.get('period_rule')})")
    return ", ".join(parts)


def summary_row(
    method: dict[str, Any], selected_by: str, runs: list[dict[str, Any]], unit: str = "bound"
):
    """One table row: a grid point of ``method`` over the seeds in ``runs`` (medians);
    ``unit``: the problem's step-size unit."""
    first = runs[0]
    row = {
        "method": method["name"],
        "label": method.get("label", method["name"]),
        "selected_by": selected_by,
        "point": first["point"],
        "params": describe_point(method, first["point"], unit),
        "period": first["period"],
        "seeds": [r["seed"] for r in runs],
        "logs": [r["log"] for r in runs],
        "reached": sum(r["rounds_to_target"] is not None for r in runs),
        "settled": sum(r["rounds_to_settle"] is not None for r in runs),
    }
    row.update({key: median_or_none([r[key] for r in runs]) for key in SEED_MEDIANS})
    return row


def build(spec, index: dict[str, Any], rows_of: dict[str, list]) -> dict[str, Any]:
    """The report; ``rows_of``: every run's row per problem name."""
    report: dict[str, Any] = {"name": spec["name"], "command": spec.get("command", "")}
    report.update(n_workers=index["n_workers"], seeds=spec["seeds"], problems=[])
    for pdef in spec["problem"]:
        pinfo = index["problems"].get(pdef["name"])
        if pinfo is None:
            continue
        runs, table = rows_of[pdef["name"]], []
        for method in spec["method"]:
            mine = [r for r in runs if r["method"] == method["name"]]
            for selected_by, chosen in target_picks(method, mine, spec["select"], tune_seeds(spec)):
                table.append(summary_row(method, selected_by, chosen, pdef.get("unit", "bound")))
        report["problems"].append(
            {
                "name": pdef["name"],
                "figure_name": pdef.get("figure_name", pdef["name"]),
                "title": ranks_in_title(pdef.get("title", pdef["name"]), index["n_workers"]),
                "target": pdef["target"],
                "L": pinfo["L"],
                "unit": pdef.get("unit", "bound"),
                "run": pinfo["run"],
                "rows": table,
                "runs": runs,
            }
        )
    return report


def _round(value: Any) -> Any:
    """Floats to 4 significant digits (whole ones to ints, inf to a string), recursively."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return format(value, "g")
        return int(value) if value.is_integer() else float(format(value, ".4g"))
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def to_json(report: dict[str, Any]) -> str:
    """The report as JSON with one line per run (the logs hold the curves)."""
    report = _round(report)
    runs = {p["name"]: p.pop("runs") for p in report["problems"]}
    text = json.dumps(report, indent=1)
    for name, rows in runs.items():
        lines = ",\n".join(
            "  " + json.dumps({k: v for k, v in r.items() if k != "log"}) for r in rows
        )
        text = text.replace(
            f'"name": "{name}",', f'"name": "{name}",\n  "runs": [\n{lines}\n  ],', 1
        )
    return text + "\n"


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "not reached"
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return format(value, spec)


def _at(row: dict[str, Any], kind: str) -> str:
    """``round (SFO)`` of ``kind`` (``target`` or ``settle``), or how many seeds got there."""
    rounds, sfo = row[f"rounds_to_{kind}"], row[f"sfo_to_{kind}"]
    if rounds is not None:
        return f"{rounds:.0f} ({sfo:.0f})"
    count = row["reached" if kind == "target" else "settled"]
    return f"{count} of {len(row['seeds'])} seeds" if count else "not reached"


def markdown(report: dict[str, Any], spec: dict[str, Any]) -> str:
    lines = []
    for p in report["problems"]:
        lines += [
            f"**{p['title']}** -- N = {report['n_workers']}, T = {p['run']['T']} SFO per worker, "
            f"target ||grad f||^2 <= {p['target']:g}, L = {p['L']:.4g} ({p['unit']})",
            "",
            "| method | selected by | parameters | first <= target: round (SFO/worker) | "
            "settled <= target: round (SFO/worker) | rounds | SFO/worker | "
            "||grad f||^2, 2nd half (median) | final f |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in p["rows"]:
            n_seeds = len(r["seeds"])
            seeds = f" ({n_seeds} seeds)" if n_seeds > 1 else ""
            lines.append(
                f"| {r['label']} | {r['selected_by']}{seeds} | {r['params']} | "
                f"{_at(r, 'target')} | {_at(r, 'settle')} | {_fmt(r['rounds'], '.0f')} | "
                f"{_fmt(r['sfo_per_worker'], '.0f')} | {_fmt(r['score'], '.2e')} | "
                f"{_fmt(r['final_objective'], '.5f')} |"
            )
        lines.append("")
    lines.append(_footnote(report, spec))
    return "\n".join(lines)


def _footnote(report: dict[str, Any], spec: dict[str, Any]) -> str:
    grids = "; ".join(
        f"{m.get('label', m['name'])}: "
        + ", ".join(f"{k} in {v}" for k, v in m.items() if isinstance(v, list))
        for m in spec["method"]
    )
    refs = "; ".join(
        f"{m.get('label', m['name'])}, {m['reference_label']}: "
        + ", ".join(f"{k} = {v}" for k, v in m["reference"].items())
        for m in spec["method"]
        if m.get("reference")
    )
    tune = spec["tune_seed"]
    return (
        f"Command: `{report['command']}`. Grids (theta in units of L; gamma in units of 1/L, "
        f"for Catalyst of 1/(L+theta)): {grids}. Every grid point ran on seed {tune}; 'score' "
        "rows: the point with the smallest median ||grad f||^2 over the evaluations in the "
        f"second half of the budget, run on seeds {spec['seeds']} (medians over them). "
        f"'fewest rounds to settle' rows: the point (seed {tune}) that settled below the target "
        f"after the fewest rounds. Restricted rows ({refs}): the best-scoring point (seed {tune}) "
        "with those parameters, the setting of the theory's comparison. 'first': the first "
        "logged evaluation with ||grad f||^2 <= target; 'settled': the first logged evaluation "
        "at which the median of it and the four before it is <= target. Evaluations are spaced "
        "by the factor eval_factor in SFO, so both are upper bounds at that resolution."
    )
