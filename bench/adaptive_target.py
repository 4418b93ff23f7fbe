"""Issue 9's target on the results of ``bench/adaptive_*.toml`` (bench/results/<name>.json).

For each problem: the adaptive schedule's final ``f - f*`` (median over seeds, its best step
size) against CR-PSGD's grid of ``rho`` (one method ``rho-<value>`` each). Target: within
1.25x of the best grid ``rho`` at no more than 1.5x its rounds, and better than the grid's
median ``rho``. Prints one Markdown table; ``--out`` also writes it with the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

MAX_ERROR, MAX_ROUNDS = 1.25, 1.5


def check(result: dict) -> dict:
    """The target's figures for one results file."""
    rows = {m["method"]: m for m in result["methods"]}
    ada = rows["adaptive"]
    grid = [m for k, m in rows.items() if k.startswith("rho-")]
    best = min(grid, key=lambda m: m["median_suboptimality"])
    median = statistics.median(m["median_suboptimality"] for m in grid)
    err, rounds = ada["median_suboptimality"], ada["rounds"]
    tuned = rows.get("psgd-tuned")
    return {
        "problem": result["name"],
        "adaptive_error": err,
        "adaptive_rounds": rounds,
        "best_rho": best["point"]["rho"],
        "best_error": best["median_suboptimality"],
        "best_rounds": best["rounds"],
        "median_rho_error": median,
        "tuned_batch_error": tuned["median_suboptimality"] if tuned else None,
        "error_ratio": err / best["median_suboptimality"],
        "rounds_ratio": rounds / best["rounds"],
        "met": bool(
            err <= MAX_ERROR * best["median_suboptimality"]
            and rounds <= MAX_ROUNDS * best["rounds"]
            and err < median
        ),
    }


def table(checks: list[dict]) -> str:
    head = (
        "| problem | adaptive f-f* | rounds | best rho | its f-f* | its rounds | median-rho f-f* "
        "| tuned PSGD f-f* | error ratio | rounds ratio | target met |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    return head + "".join(
        f"| {c['problem']} | {c['adaptive_error']:.3e} | {c['adaptive_rounds']} | "
        f"{c['best_rho']} | {c['best_error']:.3e} | {c['best_rounds']} | "
        f"{c['median_rho_error']:.3e} | {c['tuned_batch_error']:.3e} | "
        f"{c['error_ratio']:.2f} | {c['rounds_ratio']:.2f} | {'yes' if c['met'] else 'no'} |\n"
        for c in checks
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="bench/results/<name>.json")
    parser.add_argument("--out", type=Path, help="write <out>.md and <out>.json")
    args = parser.parse_args(argv)
    checks = [check(json.loads(p.read_text())) for p in args.results]
    text = table(checks)
    print(text, end="")
    if args.out is not None:
        args.out.with_suffix(".md").write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps(checks, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
