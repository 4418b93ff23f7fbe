"""Theory check of the adaptive schedule under PL (the strongly convex problem of
python -m bench theory): does the batch grow geometrically on its own, and do its rounds fit
``a + b ln T`` as the fixed schedule's do (``b = 1/ln rho``)?

    mpiexec -n 2 python -m bench adaptive-theory [--T 1000,3000,10000,30000,100000]

Each point is one ``crpsgd run`` (in this job, on every rank); rank 0 prints the fitted ``b``
of both schedules, and the adaptive run's growth rate: the slope of ``ln B_t`` against ``t``
over the second half of the rounds of the largest ``T`` (geometric growth: a straight line;
``exp(slope)`` is its effective ``rho``). Every candidate of the sweep runs (the norm test at
eta = 1 .. 16, the inner-product test at eta = 1 and 4); one *passes* when its ``b`` is at most
3x the fixed schedule's and its late growth is geometric (effective ``rho`` >= 1.01), and
bench/adaptive_target.py chooses the default among those that pass. Results: ``--out`` (JSON),
default bench/results/adaptive_theory.json.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import numpy as np
from mpi4py import MPI

from bench.adaptive_target import FIXED, passes
from crpsgd.comm.communicator import Communicator
from crpsgd.runlog import read_run
from crpsgd.session.run import run_from_cli

# the CONVEX problem of python -m bench theory and its fixed schedule
# (rho = 1.15 meets rho < 1/(1-gamma mu))
PROBLEM = {"data": "synthetic:n=20000,d=20,seed=7,noise=0.1", "problem": "logreg", "lam": 0.05}
# every candidate of make bench-adaptive's sweep (bench/adaptive_target.py names them so: the
# norm test by its eta, the inner-product test as "inner-product <eta>"); at gamma = 1/L a norm
# test with eta above sqrt(2 / (gamma L)) = 1.41 is passed by the gradient's own fluctuation at
# the noise floor and stalls (docs/adaptive.md)
CANDIDATES = {
    **{f"{eta:g}": {"adaptive_test": "norm", "eta": float(eta)} for eta in (1, 2, 4, 8, 16)},
    **{
        f"inner-product {eta:g}": {"adaptive_test": "inner-product", "eta": float(eta)}
        for eta in (1, 4)
    },
}
SCHEDULES = {
    FIXED: {"algo": "cr-psgd", "b1": 4, "rho": 1.15},
    **{
        f"adaptive {name}": {"algo": "cr-psgd", "schedule": "adaptive", "b1": 4, **cfg}
        for name, cfg in CANDIDATES.items()
    },
}


def one_run(cfg: dict, out: Path) -> dict:
    values = {**PROBLEM, **cfg, "out": str(out), "overwrite": True, "quiet": True, "seed": 0}
    run_from_cli(values, Communicator(MPI.COMM_WORLD))
    run = read_run(out) if MPI.COMM_WORLD.rank == 0 else None
    return (
        {"rounds": int(run.summary["rounds"]), "batch": run.rounds["batch"].tolist()} if run else {}
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", default="1000,3000,10000,30000,100000")
    parser.add_argument("--out", type=Path, default=Path("bench/results/adaptive_theory.json"))
    parser.add_argument("--only", help="comma-separated schedule names (others kept from --out)")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(SCHEDULES)
    ts = [int(t) for t in args.T.split(",")]
    root = MPI.COMM_WORLD.rank == 0
    results: dict = {"T": ts, "n_workers": MPI.COMM_WORLD.size, "schedules": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = MPI.COMM_WORLD.bcast(tmp)
        for name, cfg in ((n, SCHEDULES[n]) for n in names):
            tag = name.replace(" ", "_").replace("=", "")
            runs = [one_run({**cfg, "T": t}, Path(tmp) / f"{tag}-{t}.h5") for t in ts]
            if not root:
                continue
            rounds = [r["rounds"] for r in runs]
            b, a = np.polyfit(np.log(ts), rounds, 1)
            batch = np.asarray(runs[-1]["batch"], dtype=float)
            half = len(batch) // 2
            slope = float(np.polyfit(np.arange(half, len(batch)), np.log(batch[half:]), 1)[0])
            results["schedules"][name] = {
                "rounds": rounds,
                "a": float(a),
                "b": float(b),
                "growth_slope": slope,
                "effective_rho": math.exp(slope),
                "batches_largest_T": runs[-1]["batch"],
            }
    if root and args.only and args.out.exists():  # keep the other schedules' results
        kept = json.loads(args.out.read_text())["schedules"]
        results["schedules"] = {**kept, **results["schedules"]}
    if root:
        print(f"rounds = a + b ln T over T = {ts}, N = {results['n_workers']}")
        for name, r in results["schedules"].items():
            ok = passes(results["schedules"], name.removeprefix("adaptive "))
            print(
                f"  {name:26s} b = {r['b']:7.2f}  a = {r['a']:7.2f}  rounds {r['rounds']}  "
                f"late growth exp(d ln B/dt) = {r['effective_rho']:.4f}"
                + ("" if ok is None else f"  {'passes' if ok else 'fails'}")
            )
        print(f"  (fixed: theory b = 1/ln 1.15 = {1 / math.log(1.15):.2f})")
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
