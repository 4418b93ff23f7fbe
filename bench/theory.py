"""Theory checks of CR-PSGD (and CR-PSGD-Catalyst): fits of measured rates against the paper's.

    python -m bench theory                 # runs (one mpiexec per rank count N), fits, prints
    python -m bench theory --analyse-only  # fits, tables and figures from the logs only

1. **Rounds against T** (N = 1..16, several decades of T): fit ``rounds = a + b ln T``;
   the schedule predicts ``b = 1 / ln(rho)`` (rounds ~ log_rho(T (rho - 1) / B1)).
2. **Suboptimality against N T** under PL (l2 logistic regression, strongly convex): log-log
   slope of the median final ``f - f*`` over seeds against ``N T``; theory -1.
3. **CR-PSGD-Catalyst** on a non-convex problem (when this build has it): slope of
   ``||grad f||^2`` against ``N T`` (theory -1/2) and of rounds against
   ``sqrt(N T) log(T/N)`` (theory 1).
4. **Linear speedup**: at each fixed T, slope of the error against N; theory -1.

Every slope comes with its spread: the slope is refitted on each seed alone and the spread is
the range of those per-seed slopes. Each grid point is one run of ``crpsgd`` through
``python -m bench experiment`` (the same code path as ``crpsgd run``), logs under
``bench/out/theory/N<n>/``. Results: ``bench/results/theory.json``, ``theory.md``, ``theory.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.runner.analyse import NothingToAnalyse
from bench.runner.launch import run_in_job
from bench.runner.rows import ROOT, read_index
from bench.theory_figure import draw

# The strongly convex problem: dense synthetic data, lambda large enough that the PL constant
# mu >= lambda makes rho = 1.15 satisfy the paper's condition rho < 1/(1 - gamma mu) with
# gamma = 1/L (gamma mu >= lambda/L ~ 0.17 here).
CONVEX = {
    "data": "synthetic:n=20000,d=20,seed=7,noise=0.1",
    "problem": "logreg",
    "lam": 0.05,
    "fstar": "auto",
    "eval_factor": 2.0,
}
CR = {"algo": "cr-psgd", "b1": 4, "rho": 1.15}
NONCONVEX = {
    "data": "synthetic:n=20000,d=20,seed=7,noise=0.1",
    "problem": "logreg-nonconvex",
    "lam": 0.05,
    "alpha": 1.0,
    "fstar": "none",
    "eval_factor": 2.0,
}
CATALYST = {"algo": "cr-psgd-catalyst", "b1": 4, "rho": 1.5}

FULL = {
    "ranks": [1, 2, 4, 8, 16],
    "T": [1000, 3000, 10000, 30000, 100000],
    "seeds": [0, 1, 2],
    "catalyst_ranks": [1, 2, 4, 8],
    "catalyst_T": [1000, 10000, 100000],
}
QUICK = {
    "ranks": [1, 2],
    "T": [1000, 10000],
    "seeds": [0],
    "catalyst_ranks": [1, 2],
    "catalyst_T": [1000, 10000],
}


def run_grid(
    name: str,
    run: dict,
    method: dict,
    ranks,
    T,
    seeds,
    out_dir: Path,
    gamma: float = 1.0,
    resume: bool = False,
) -> None:
    """``method`` on ``run`` for every T and seed, one MPI job per rank count N."""
    for n in ranks:
        if resume and (out_dir / f"{name}-N{n}" / "index.json").exists():
            print(f"theory: {name}, N = {n}: kept (--resume)", flush=True)
            continue
        spec = {"name": f"{name}-N{n}", "run": run}
        spec["grid"] = {"gamma": [gamma], "seeds": seeds, "tune_seeds": seeds}
        spec["method"] = [{"name": method["algo"], **method, "T": T}]
        print(f"theory: {name}, N = {n}, T in {T}, seeds {seeds}", flush=True)
        run_in_job(spec, n, out_dir / f"{name}-N{n}", out_dir / "tables")


def collect(out_dir: Path, name: str, ranks) -> list[dict[str, Any]]:
    """One point per completed run of the ``name`` grids (one index per rank count N)."""
    from crpsgd.runlog import read_run

    points = []
    for n in ranks:
        index_path = out_dir / f"{name}-N{n}" / "index.json"
        if not index_path.exists():
            continue
        for entry in read_index(index_path)["problems"][""]["runs"]:
            if entry["status"] != "completed" or not (ROOT / entry["log"]).exists():
                continue
            s = read_run(ROOT / entry["log"]).summary
            points.append(
                {
                    "N": n,
                    "T": int(entry["point"]["T"]),
                    "seed": entry["seed"],
                    "rounds": s["rounds"],
                    "suboptimality": s.get("suboptimality"),
                    "grad_norm_sq": s.get("grad_norm_sq"),
                    "log": entry["log"],
                }
            )
    return points


def points(out_dir: Path, cfg: dict[str, Any], committed: Path) -> tuple[list, list, bool]:
    """The CR-PSGD and Catalyst points from the logs, else from the committed results JSON
    (which holds every point); and whether they came from the logs."""
    pts = collect(out_dir, "crpsgd", cfg["ranks"])
    if pts:
        return pts, collect(out_dir, "catalyst", cfg["catalyst_ranks"]), True
    if committed.exists():
        saved = json.loads(committed.read_text())
        if saved.get("points"):
            return saved["points"], saved.get("catalyst_points", []), False
    raise NothingToAnalyse(
        f"theory: no logs under {out_dir} and no {committed}; run `make bench-theory` first"
    )


def loglog_slope(x, y) -> float:
    x, y = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    return float(np.polyfit(x, y, 1)[0])


def slope_with_spread(points, xkey, ykey, seeds) -> dict[str, Any]:
    """Slope of median(y) over seeds against x, and the range of per-seed slopes."""
    groups: dict[tuple, list[float]] = {}
    for p in points:
        groups.setdefault((p["N"], p["T"]), []).append(p[ykey])
    xs = [xkey(n, t) for (n, t) in groups]
    med = [statistics.median(v) for v in groups.values()]
    per_seed = []
    for seed in seeds:
        mine = [p for p in points if p["seed"] == seed]
        if len(mine) >= 2:
            per_seed.append(
                loglog_slope([xkey(p["N"], p["T"]) for p in mine], [p[ykey] for p in mine])
            )
    return {
        "slope": loglog_slope(xs, med) if len(xs) >= 2 else math.nan,
        "per_seed": per_seed,
        "spread": [min(per_seed), max(per_seed)] if per_seed else None,
        "x": xs,
        "y_median": med,
    }


def analyse(out_dir: Path, cfg: dict[str, Any], results: Path, tag: str) -> dict[str, Any]:
    seeds = cfg["seeds"]
    pts, cpts, from_logs = points(out_dir, cfg, results / f"{tag}.json")
    res: dict[str, Any] = {"convex_problem": {**CONVEX, **CR}, "config": cfg}
    # 1. rounds = a + b ln T (rounds do not depend on N or the seed: one value per T)
    by_t = {}
    for p in pts:
        by_t.setdefault(p["T"], set()).add(p["rounds"])
    ts = sorted(by_t)
    rounds = [statistics.median(by_t[t]) for t in ts]
    b, a = np.polyfit(np.log(ts), rounds, 1)
    res["rounds_vs_T"] = {
        "T": ts,
        "rounds": rounds,
        "a": float(a),
        "b": float(b),
        "b_theory": 1 / math.log(CR["rho"]),
    }
    # 2. suboptimality against N T
    res["subopt_vs_NT"] = slope_with_spread(pts, lambda n, t: n * t, "suboptimality", seeds)
    res["subopt_vs_NT"]["theory"] = -1.0
    # 4. linear speedup: at fixed T, error against N
    res["speedup"] = []
    for t in ts:
        sel = [p for p in pts if p["T"] == t]
        if len({p["N"] for p in sel}) >= 2:
            fit = slope_with_spread(sel, lambda n, _t: n, "suboptimality", seeds)
            res["speedup"].append({"T": t, **fit, "theory": -1.0})
    # 3. catalyst
    if cpts:
        res["catalyst_problem"] = {**NONCONVEX, **CATALYST}
        res["catalyst_grad_vs_NT"] = slope_with_spread(
            cpts, lambda n, t: n * t, "grad_norm_sq", seeds
        )
        res["catalyst_grad_vs_NT"]["theory"] = -0.5
        xs = [math.sqrt(p["N"] * p["T"]) * math.log(p["T"] / p["N"]) for p in cpts]
        res["catalyst_rounds"] = {
            "x": xs,
            "rounds": [p["rounds"] for p in cpts],
            "slope": loglog_slope(xs, [p["rounds"] for p in cpts]),
            "theory": 1.0,
        }
    res["points"] = pts
    res["catalyst_points"] = cpts
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{tag}.json").write_text(json.dumps(res, indent=1) + "\n")
    text = "Command: `make bench-theory` (redrawn from the JSON: `make figures`)\n\n" + tables(res)
    (results / f"{tag}.md").write_text(text + "\n")
    print(text)
    draw(res, results / f"{tag}.png")
    if not from_logs:
        print(
            f"theory: redrawn from the committed {tag}.json (no logs in {out_dir})", file=sys.stderr
        )
    return res


def _spread(fit) -> str:
    s = fit.get("spread")
    return f"{s[0]:.2f} .. {s[1]:.2f}" if s else "-"


def tables(res: dict[str, Any]) -> str:
    r = res["rounds_vs_T"]
    lines = [
        "Check 1 -- CR-PSGD rounds against T (B1 = {b1}, rho = {rho}):".format(**CR),
        "",
        "| T | " + " | ".join(str(t) for t in r["T"]) + " |",
        "|---|" + "---:|" * len(r["T"]),
        "| rounds | " + " | ".join(f"{x:.0f}" for x in r["rounds"]) + " |",
        "",
        f"fit rounds = a + b ln T: a = {r['a']:.2f}, b = {r['b']:.3f}; "
        f"theory b = 1/ln(rho) = {r['b_theory']:.3f}",
        "",
        "| check | measured exponent | spread over seeds | theory |",
        "|---|---:|---:|---:|",
    ]
    f = res["subopt_vs_NT"]
    lines.append(
        f"| 2. CR-PSGD f - f* against N T | {f['slope']:.3f} | {_spread(f)} | {f['theory']:.1f} |"
    )
    if "catalyst_grad_vs_NT" in res:
        c = res["catalyst_grad_vs_NT"]
        lines.append(
            f"| 3a. Catalyst ‖grad f‖² against N T | {c['slope']:.3f} | {_spread(c)} | -0.5 |"
        )
        cr = res["catalyst_rounds"]
        lines.append(
            f"| 3b. Catalyst rounds against sqrt(NT) log(T/N) | {cr['slope']:.3f} | - | 1.0 |"
        )
    else:
        lines.append("| 3. Catalyst | not run (no cr-psgd-catalyst logs) | | |")
    for s in res["speedup"]:
        lines.append(
            f"| 4. f - f* against N at T = {s['T']} | {s['slope']:.3f} | {_spread(s)} | -1.0 |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small grid (the SLURM test)")
    parser.add_argument("--analyse-only", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "out" / "theory")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--no-catalyst", action="store_true")
    parser.add_argument(
        "--resume", action="store_true", help="keep rank counts whose logs are complete"
    )
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    tag = "theory-quick" if args.quick else "theory"
    if not args.analyse_only:
        run_grid(
            "crpsgd",
            CONVEX,
            CR,
            cfg["ranks"],
            cfg["T"],
            cfg["seeds"],
            args.out_dir,
            resume=args.resume,
        )
        if not args.no_catalyst:  # (a build without Catalyst: experiment.py skips it, says so)
            run_grid(
                "catalyst",
                NONCONVEX,
                CATALYST,
                cfg["catalyst_ranks"],
                cfg["catalyst_T"],
                cfg["seeds"],
                args.out_dir,
                gamma=1 / 3,  # 1/(L + theta) with theta = 2L, as --gamma auto does
                resume=args.resume,
            )
    try:
        analyse(args.out_dir, cfg, args.results_dir, tag)
    except NothingToAnalyse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
