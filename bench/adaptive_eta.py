"""Pilot for issue 9: choose the adaptive schedule's default ``eta`` on small problems.

    mpiexec -n 4 python bench/adaptive_eta.py --data synthetic:n=20000,d=50,seed=1 --T 20000

Runs, on every rank, a stand-alone copy of the parallel-SGD round (the one the loop of
``crpsgd.algorithms.parallel_sgd`` runs) with the observing-schedule calls that the lead
wires into that loop (``fill_slots`` before the Allreduce, ``observe`` after it), for the
adaptive schedule at several ``eta``, CR-PSGD at a ``rho`` grid and PSGD(B) at a batch grid,
all with ``B_1 = b1``, the same step size ``gamma = factor / L`` and per-worker budget ``T``.
Prints one table row per run (rank 0): rounds, final ``f - f*``, ``||grad f||^2`` and the
last batch. Not the benchmark (``bench/adaptive_*.toml`` are its definitions); a pilot with
reduced budgets, to be replaced by ``crpsgd run --growth adaptive`` once that is wired.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from crpsgd.adaptive import AdaptiveBatch
from crpsgd.algorithms.parallel_sgd import sample_indices
from crpsgd.comm import Communicator
from crpsgd.data.loader import load_shard
from crpsgd.evaluation import Evaluator, global_smoothness
from crpsgd.noise import LocalStats, RoundStats
from crpsgd.problems.fstar import newton_fstar
from crpsgd.problems.logreg import LogisticRegression
from crpsgd.rng import worker_rng
from crpsgd.schedules import ConstantBatch, ExponentialBatch, rounds_within_budget


def run(problem, comm, schedule, budget: int, gamma: float, seed: int):
    """One run: returns ``(x, rounds, last batch)``."""
    rng = worker_rng(seed, comm.rank)
    slots = getattr(schedule, "extra_slots", 0)
    buf = np.empty(problem.dim + slots)
    grad, view = buf[: problem.dim], buf[problem.dim :]
    x = np.zeros(problem.dim)
    t = b = 0
    for b in rounds_within_budget(schedule, budget):
        t += 1
        idx = sample_indices(rng, problem.n_local, b)
        problem.stochastic_grad(x, idx, grad)
        if slots:
            schedule.fill_slots(view, LocalStats(t, b, grad, x, idx, problem))
        comm.allreduce_mean_(buf)
        if slots:  # before the step overwrites grad
            schedule.observe(t, RoundStats(t, b, grad, view, comm.size))
        grad *= gamma
        x -= grad
    return x, t, b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--lam", type=float, default=1e-4)
    ap.add_argument("--T", type=int, default=20000)
    ap.add_argument("--b1", type=int, default=4)
    ap.add_argument("--gamma-factor", type=float, default=1.0, help="gamma = factor / L")
    ap.add_argument("--etas", type=float, nargs="*", default=[0.25, 0.5, 1.0, 2.0])
    ap.add_argument("--rhos", type=float, nargs="*", default=[1.02, 1.05, 1.1, 1.2])
    ap.add_argument("--batches", type=int, nargs="*", default=[4, 16, 64, 256])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--noise-source", default="auto")
    ap.add_argument("--noise-ema", type=float, default=0.9)
    args = ap.parse_args()

    comm = Communicator()
    shard, n = load_shard(args.data, comm.rank, comm.size)
    problem = LogisticRegression(shard, n, args.lam)
    L, _ = global_smoothness(problem, comm)
    gamma = args.gamma_factor / L
    fstar = newton_fstar(problem, comm).value
    evaluate = Evaluator(problem, comm, f_star=fstar)

    methods = [
        (
            f"adaptive eta={e}",
            lambda e=e: AdaptiveBatch(
                args.b1, comm.size, eta=e, noise_ema=args.noise_ema, noise_source=args.noise_source
            ),
        )
        for e in args.etas
    ]
    methods += [(f"cr-psgd rho={r}", lambda r=r: ExponentialBatch(args.b1, r)) for r in args.rhos]
    methods += [(f"psgd B={b}", lambda b=b: ConstantBatch(b)) for b in args.batches]
    if comm.is_root:
        print(
            f"# {args.data} lam={args.lam} N={comm.size} T={args.T} gamma={gamma:.4g} "
            f"(= {args.gamma_factor}/L, L={L:.4g}) f*={fstar:.10g}; medians over seeds "
            f"{args.seeds}"
        )
        print(f"{'method':<22} {'rounds':>7} {'f - f*':>10} {'||grad f||^2':>12} {'last B':>7}")
    for name, make in methods:
        rows = []
        for seed in args.seeds:
            x, rounds, last = run(problem, comm, make(), args.T, gamma, seed)
            ev = evaluate(x)
            rows.append((rounds, ev.suboptimality, ev.grad_norm_sq, last))
        if comm.is_root:
            med = [statistics.median(c) for c in zip(*rows, strict=True)]
            print(f"{name:<22} {med[0]:>7.0f} {med[1]:>10.3e} {med[2]:>12.3e} {med[3]:>7.0f}")


if __name__ == "__main__":
    main()
