"""Issue 9's target and the eta sweep on the results of ``bench/adaptive_*.toml``
(bench/results/<name>.json, single-problem definitions of python -m bench experiment).

A problem's *error* is what its definition scores: the final ``f - f*`` (convex problems,
``score = "final"``), or, with ``score = "tail"``, the median of the metric (``||grad f||^2``,
a network's training loss) over the evaluations in the second half of the budget; each row
is a method at its best step size, median over seeds. Target, for the adaptive schedule with
its defaults (the row whose test and eta are ``--schedule adaptive``'s defaults; a row named
``adaptive`` in results of earlier definitions) against CR-PSGD's grid of ``rho`` (one method
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
FIXED = "fixed rho = 1.15"  # bench/adaptive_theory.py's reference schedule
B_FACTOR = 3.0  # theory check: the adaptive b of rounds = a + b ln T at most 3x the fixed one's
GEOMETRIC = 1.01  # theory check: late growth exp(d ln B_t / dt) at least this


def passes(schedules: dict, candidate: str) -> bool | None:
    """Whether ``candidate``'s runs in bench/adaptive_theory.py's results pass the theory
    check (rounds ``a + b ln T`` with ``b`` at most ``B_FACTOR`` times the fixed schedule's,
    and geometric late growth); None where the results lack it."""
    mine, fixed = schedules.get(f"adaptive {candidate}"), schedules.get(FIXED)
    if mine is None or fixed is None:
        return None
    return bool(mine["b"] <= B_FACTOR * fixed["b"] and mine["effective_rho"] >= GEOMETRIC)


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


def default_row(result: dict, default_test: str, default_eta: float) -> dict:
    """The row of ``--schedule adaptive`` at its defaults: the candidate row (``eta-<value>``,
    ``ip-eta-<value>``) whose test and eta are the defaults, else a row named ``adaptive``."""
    for m in result["methods"]:
        if m["method"] != "adaptive" and eta_of(m, default_eta) is not None:
            if (test_of(m, default_test), eta_of(m, default_eta)) == (default_test, default_eta):
                return m
    for m in result["methods"]:
        if m["method"] == "adaptive":
            return m
    name = candidate_name(default_test, default_eta)
    raise ValueError(f"{result['name']}: no row of the default ({name}) nor one named 'adaptive'")


def check(result: dict, default_test: str = "norm", default_eta: float = 1.0) -> dict:
    """The target's figures for one results file (the row of the defaults)."""
    best, median = _grid(result)
    ada = _versus(default_row(result, default_test, default_eta), best, median)
    tuned = next((m for m in result["methods"] if m["method"] == "psgd-tuned"), None)
    return {
        "problem": result["name"],
        "default": candidate_name(default_test, default_eta),
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
    """The ``--adaptive-test`` of an adaptive row: its own (the definitions name it on every
    row, so that a change of the default relabels nothing), else the default."""
    return str(row["point"].get("adaptive_test", default_test))


def candidate_name(test: str, eta: float) -> str:
    """How the tables name a candidate: its eta (the norm test), or ``<test> <eta>``."""
    return f"{eta:g}" if test == "norm" else f"{test} {eta:g}"


def sweep(
    results: list[dict],
    default_eta: float,
    default_test: str = "norm",
    theory: dict | None = None,
) -> dict:
    """Per problem and candidate (a test and an eta): the figures against the best ``rho``;
    per candidate: the worst case over the problems; the minimax candidates (over those that
    every problem has and, given ``theory``, bench/adaptive_theory.py's results by schedule
    name, that do not fail its check), named as :func:`candidate_name` does."""
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
                "theory": passes(theory, candidate_name(test, eta)) if theory else None,
            }
        )
    everywhere = [w for w in worst if w["problems"] == len(results) and w["theory"] is not False]
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
    defaults = sorted({c.get("default", "1") for c in checks})
    head = (
        f"The adaptive schedule at its defaults (candidate {', '.join(defaults)}) against the "
        "grid of fixed rho:\n\n"
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
        "| below median rho | theory check |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {w['candidate']} | {w['problems']} | {w['max_error_ratio']:.2f} | "
        f"{w['max_rounds_ratio']:.2f} | {w['max_slack']:.2f} | {w['met']}/{w['problems']} | "
        f"{w['below_median_rho']}/{w['problems']} | {_passed(w.get('theory'))} |"
        for w in s["worst"]
    ]
    lines += [
        "",
        f"Minimax eta (smallest worst error ratio): {s['minimax_candidate_error'] or '-'}; "
        f"smallest worst slack: {s['minimax_candidate_slack'] or '-'} "
        "(over the candidates run on every problem"
        + (" that pass the theory check)." if any(w.get("theory") for w in s["worst"]) else ")."),
    ]
    return "\n".join(lines) + "\n"


def _passed(ok: bool | None) -> str:
    return "-" if ok is None else ("passes" if ok else "fails")


def _header(w: dict) -> str:
    eta = f"eta = {w['eta']:g}"
    return eta if w["test"] == "norm" else f"{w['test']}, {eta}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="bench/results/<name>.json")
    parser.add_argument("--out", type=Path, help="write <out>.md and <out>.json")
    parser.add_argument(
        "--theory",
        type=Path,
        help="bench/adaptive_theory.py's results: the minimax leaves out candidates that fail it",
    )
    args = parser.parse_args(argv)
    from crpsgd.schedules.adaptive import DEFAULT_ETA
    from crpsgd.schedules.adaptive_inner import PARAMS as TEST_PARAMS

    (default_test,) = [p.default for p in TEST_PARAMS if p.name == "adaptive_test"]

    results, checks = [], []
    for path in args.results:
        try:
            results.append(json.loads(path.read_text()))
            checks.append(check(results[-1], default_test, DEFAULT_ETA))
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: {path}: {exc!r}", file=sys.stderr)
            return 2
    theory = None
    if args.theory is not None:
        try:
            theory = json.loads(args.theory.read_text())["schedules"]
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: {args.theory}: {exc!r}", file=sys.stderr)
            return 2
    swept = sweep(results, DEFAULT_ETA, default_test, theory)
    text = "Command: `make bench-adaptive`\n\n" + table(checks) + "\n" + sweep_table(swept)
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
