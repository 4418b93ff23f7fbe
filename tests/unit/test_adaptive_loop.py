"""The adaptive schedule inside a real parallel-SGD round on one rank (the round the loop runs:
fill_slots before the Allreduce, observe after it, before the step), with a checkpoint-style
resume in the middle that ends bit for bit where the uninterrupted run ends."""

from __future__ import annotations

import json

import numpy as np
from mpi4py import MPI

from crpsgd.algorithms.parallel_sgd import sample_indices
from crpsgd.comm.communicator import Communicator
from crpsgd.data.rng import worker_rng
from crpsgd.data.synthetic import parse_synthetic_spec, synthetic_rows
from crpsgd.files.checkpoint import restore_rng, rng_state
from crpsgd.problems.logreg import LogisticRegression
from crpsgd.schedules.adaptive import AdaptiveBatch
from crpsgd.schedules.noise import LocalStats, RoundStats
from crpsgd.schedules.schedule import rounds_within_budget


def problem() -> LogisticRegression:
    spec = parse_synthetic_spec("synthetic:n=4000,d=20,seed=5,cond=100")
    return LogisticRegression(synthetic_rows(spec, 0, spec.n), spec.n, lam=1e-3)


def rounds(p, comm, schedule, budget, gamma, x, rng, start=1, stop=None):
    """Rounds ``start ..`` (until the budget, or until round ``stop``): returns their batches."""
    buf = np.empty(p.dim + schedule.extra_slots)
    grad, view = buf[: p.dim], buf[p.dim :]
    done = []
    for t, b in enumerate(rounds_within_budget(schedule, budget, start=start), start=start):
        idx = sample_indices(rng, p.n_local, b)
        p.stochastic_grad(x, idx, grad)
        schedule.fill_slots(view, LocalStats(t, b, grad, x, idx, p))
        comm.allreduce_mean_(buf)
        schedule.observe(t, RoundStats(t, b, grad, view, comm.size))
        grad *= gamma
        x -= grad
        done.append(b)
        if stop is not None and t == stop:
            break
    return done


def test_adaptive_run_grows_within_the_budget_and_resumes_bit_for_bit():
    p, comm = problem(), Communicator(MPI.COMM_SELF)
    budget, gamma = 30000, 2.0
    make = lambda: AdaptiveBatch(4, 1, eta=1.0)  # noqa: E731  (N = 1: within-worker variance)

    whole, x_whole, rng = make(), np.zeros(p.dim), worker_rng(3, 0)
    batches = rounds(p, comm, whole, budget, gamma, x_whole, rng)
    assert sum(batches) <= budget
    assert batches == sorted(batches) and batches[-1] > 4 * batches[0]  # it grew
    assert all(b2 <= 2 * b1 for b1, b2 in zip(batches, batches[1:], strict=False))

    first, x, rng = make(), np.zeros(p.dim), worker_rng(3, 0)
    k = len(batches) // 2
    rounds(p, comm, first, budget, gamma, x, rng, stop=k)
    saved = json.loads(json.dumps({"schedule": first.state(), "rng": rng_state(rng)}))
    resumed, x2 = make(), x.copy()
    resumed.load_state(saved["schedule"])
    rest = rounds(p, comm, resumed, budget, gamma, x2, restore_rng(saved["rng"]), start=k + 1)
    assert batches[:k] + rest == batches
    np.testing.assert_array_equal(x2, x_whole)
    assert resumed.state() == whole.state()
