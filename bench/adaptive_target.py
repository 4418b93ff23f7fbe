"""Issue 9's target and the eta sweep on the results of ``bench/adaptive_*.toml``
(bench/results/<name>.json, single-problem definitions of python -m bench experiment).

A problem's *error* is what its definition scores: the final ``f - f*`` (convex problems,
``score = "final"``), or, with ``score = "tail"``, the median of the metric (``||grad f||^2``,
a network's training loss) over the evaluations in the second half of the budget; each row
is a method at its best step size, median over seeds. Target, for the adaptive schedule with
its default eta (the row ``adaptive``) against CR-PSGD's grid of ``rho`` (one method
``rho-<value>`` each): error within 1.25x of the best grid ``rho`` at no more than 1.5x its
rounds, and below the grid's median ``rho`` error.

The eta sweep (rows ``eta-<value>``, and the default-eta row) gives the same figures per eta
and problem, and per eta the worst case over the problems: the largest error ratio, the
largest rounds ratio and the largest *slack* ``max(error ratio / 1.25, rounds ratio / 1.5)``
(the target's two bounds at once: at most 1 where both hold). The *minimax* eta has the
smallest worst error ratio (and, separately, the smallest worst slack) among the etas run on
every problem. The inner-product test's rows (``ip-eta-<value>``, ``adaptive_test =
"inner-product"``) are candidates of their own, named ``inner-product <eta>`` (the norm test's by
their eta alone), so that the minimax may pick a test and an eta. Prints the Markdown tables;
``--out`` also writes them and the figures as ``<out>.md`` and ``<out>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

MAX_ERROR, MAX_ROUNDS = 1.25, 1.5
METRIC_NAMES = {"suboptimality": "f - f*", "grad_norm_sq": "‖grad f‖²", "objective": "loss"}


def error(row: dict) -> float:
    """A method row's error: its median tail score where the definition scores the tail,
    else its median final metric."""
    return float(row.get("median_score", row["median_suboptimality"]))  # "inf": a failed run


def measure(result: dict) -> str:
    """What a results file's errors are, in words."""
    name = METRIC_NAMES.get(result.get("metric", "suboptimality"), result.get("metric"))
    return f"{name}, 2nd-half median" if result.get("score") == "tail" else f"final {name}"


def _versus(row: dict, best: dict, median: float) -> dict:
    err_ratio = error(row) / error(best)
    rounds_ratio = float(row["rounds"]) / float(best["rounds"])
    return {
        "error": error(row),
        "rounds": float(row["rounds"]),
        "error_ratio": err_ratio,
        "rounds_ratio": rounds_ratio,
        "slack": max(err_ratio / MAX_ERROR, rounds_ratio / MAX_ROUNDS),
        "below_median_rho": bool(error(row) < median),
        "met": bool(err_ratio <= MAX_ERROR and rounds_ratio <= MAX_ROUNDS and error(row) < median),
    }


def _grid(result: dict) -> tuple[dict, float]:
    """The best grid ``rho`` row and the grid's median error."""
    grid = [m for m in result["methods"] if m["method"].startswith("rho-")]
    if not grid:
        raise ValueError(f"{result['name']}: no rho-<value> rows")
    return min(grid, key=error), statistics.median(error(m) for m in grid)


def check(result: dict) -> dict:
    """The target's figures for one results file (its ``adaptive`` row)."""
    rows = {m["method"]: m for m in result["methods"]}
    if "adaptive" not in rows:
        raise ValueError(f"{result['name']}: no 'adaptive' row (the default eta)")
    best, median = _grid(result)
    ada = _versus(rows["adaptive"], best, median)
    tuned = rows.get("psgd-tuned")
    return {
        "problem": result["name"],
        "measure": measure(result),
        "adaptive_error": ada["error"],
        "adaptive_rounds": ada["rounds"],
        "best_rho": best["point"]["rho"],
        "best_error": error(best),
        "best_rounds": float(best["rounds"]),
        "median_rho_error": median,
        "tuned_batch_error": error(tuned) if tuned else None,
        "error_ratio": ada["error_ratio"],
        "rounds_ratio": ada["rounds_ratio"],
        "met": ada["met"],
    }


def eta_of(row: dict, default_eta: float) -> float | None:
    """The eta of an adaptive row (``eta-<value>``, ``ip-eta-<value>``, or the default-eta
    row), else None."""
    if row["method"] == "adaptive":
        return float(row["point"].get("eta", default_eta))
    for prefix in ("eta-", "ip-eta-"):
        if row["method"].startswith(prefix):
            return float(row["point"].get("eta", row["method"][len(prefix) :]))
    return None


def test_of(row: dict, default_test: str) -> str:
    """The ``--adaptive-test`` of an adaptive row: its own, else the default."""
    return str(row["point"].get("adaptive_test", default_test))


def candidate_name(test: str, eta: float) -> str:
    """How the tables name a candidate: its eta (the norm test), or ``<test> <eta>``."""
    return f"{eta:g}" if test == "norm" else f"{test} {eta:g}"


def sweep(results: list[dict], default_eta: float, default_test: str = "norm") -> dict:
    """Per problem and candidate (a test and an eta): the figures against the best ``rho``;
    per candidate: the worst case over the problems; the minimax candidates (over those that
    every problem has), named as :func:`candidate_name` does."""
    rows = []
    for result in results:
        best, median = _grid(result)
        seen = set()
        # the eta-<value> rows first: the default row counts only for an eta they lack
        for m in sorted(result["methods"], key=lambda m: m["method"] == "adaptive"):
            eta = eta_of(m, default_eta)
            key = (test_of(m, default_test), eta)
            if eta is None or key in seen:
                continue
            seen.add(key)
            rows.append(
                {
                    "problem": result["name"],
                    "test": key[0],
                    "eta": eta,
                    "candidate": candidate_name(*key),
                    **_versus(m, best, median),
                }
            )
    worst = []
    order = {"norm": 0}
    for test, eta in sorted(
        {(r["test"], r["eta"]) for r in rows}, key=lambda k: (order.get(k[0], 1), k)
    ):
        mine = [r for r in rows if (r["test"], r["eta"]) == (test, eta)]
        worst.append(
            {
                "test": test,
                "candidate": candidate_name(test, eta),
                "eta": eta,
                "problems": len(mine),
                "max_error_ratio": max(r["error_ratio"] for r in mine),
                "max_rounds_ratio": max(r["rounds_ratio"] for r in mine),
                "max_slack": max(r["slack"] for r in mine),
                "met": sum(r["met"] for r in mine),
                "below_median_rho": sum(r["below_median_rho"] for r in mine),
            }
        )
    everywhere = [w for w in worst if w["problems"] == len(results)]
    pick = {
        key: min(everywhere, key=lambda w, key=key: w[key]) if everywhere else None
        for key in ("max_error_ratio", "max_slack")
    }
    return {
        "default_eta": default_eta,
        "default_test": default_test,
        "minimax_candidate_error": _name(pick["max_error_ratio"]),
        "minimax_candidate_slack": _name(pick["max_slack"]),
        "rows": rows,
        "worst": worst,
        "minimax_eta_error": _eta(pick["max_error_ratio"]),
        "minimax_eta_slack": _eta(pick["max_slack"]),
    }


def _name(w: dict | None) -> str | None:
    return None if w is None else w["candidate"]


def _eta(w: dict | None) -> float | None:
    return None if w is None else w["eta"]


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, fmt)


def table(checks: list[dict]) -> str:
    head = (
        "| problem | error | adaptive | rounds | best rho | its error | its rounds "
        "| median-rho error | tuned PSGD | error ratio | rounds ratio | target met |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    return head + "".join(
        f"| {c['problem']} | {c['measure']} | {c['adaptive_error']:.3e} | "
        f"{c['adaptive_rounds']:.0f} | {c['best_rho']} | {c['best_error']:.3e} | "
        f"{c['best_rounds']:.0f} | {c['median_rho_error']:.3e} | "
        f"{_num(c['tuned_batch_error'], '.3e')} | {c['error_ratio']:.2f} | "
        f"{c['rounds_ratio']:.2f} | {'yes' if c['met'] else 'no'} |\n"
        for c in checks
    )


def sweep_table(s: dict) -> str:
    """The per-problem error and rounds ratios of every eta, then the worst case per eta."""
    problems = list(dict.fromkeys(r["problem"] for r in s["rows"]))
    etas = [w["candidate"] for w in s["worst"]]
    cell = {(r["problem"], r["candidate"]): r for r in s["rows"]}
    default = candidate_name(s.get("default_test", "norm"), s["default_eta"])

    def fmt(r: dict | None) -> str:
        if r is None:
            return "-"
        return f"{r['error_ratio']:.2f} / {r['rounds_ratio']:.2f}" + (" ✓" if r["met"] else "")

    names = [_header(w) + (" (default)" if w["candidate"] == default else "") for w in s["worst"]]
    lines = [
        "Error ratio / rounds ratio against the best grid rho (✓: target met):",
        "",
        "| problem | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(etas),
    ]
    lines += [
        f"| {p} | " + " | ".join(fmt(cell.get((p, e))) for e in etas) + " |" for p in problems
    ]
    lines += [
        "",
        "Worst case over the problems (slack = max(error ratio / 1.25, rounds ratio / 1.5)):",
        "",
        "| eta | problems | max error ratio | max rounds ratio | max slack | target met "
        "| below median rho |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {w['candidate']} | {w['problems']} | {w['max_error_ratio']:.2f} | "
        f"{w['max_rounds_ratio']:.2f} | {w['max_slack']:.2f} | {w['met']}/{w['problems']} | "
        f"{w['below_median_rho']}/{w['problems']} |"
        for w in s["worst"]
    ]
    lines += [
        "",
        f"Minimax eta (smallest worst error ratio): {s['minimax_candidate_error'] or '-'}; "
        f"smallest worst slack: {s['minimax_candidate_slack'] or '-'} "
        "(over the etas run on every problem).",
    ]
    return "\n".join(lines) + "\n"


def _header(w: dict) -> str:
    eta = f"eta = {w['eta']:g}"
    return eta if w["test"] == "norm" else f"{w['test']}, {eta}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="bench/results/<name>.json")
    parser.add_argument("--out", type=Path, help="write <out>.md and <out>.json")
    args = parser.parse_args(argv)
    from crpsgd.schedules.adaptive import DEFAULT_ETA
    from crpsgd.schedules.adaptive_inner import PARAMS as TEST_PARAMS

    (default_test,) = [p.default for p in TEST_PARAMS if p.name == "adaptive_test"]

    results, checks = [], []
    for path in args.results:
        try:
            results.append(json.loads(path.read_text()))
            checks.append(check(results[-1]))
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: {path}: {exc!r}", file=sys.stderr)
            return 2
    swept = sweep(results, DEFAULT_ETA, default_test)
    text = table(checks) + "\n" + sweep_table(swept)
    print(text, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".md").write_text(text)
        payload = {"target": checks, "eta_sweep": swept}
        text = json.dumps(payload, indent=1).replace("Infinity", '"inf"')
        args.out.with_suffix(".json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
