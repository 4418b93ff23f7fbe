"""The noise estimate through a real round: each rank's slot, the one Allreduce, and the
estimates on every rank against NumPy from all ranks' minibatch gradients (gathered)."""

import numpy as np
import pytest
from mpi4py import MPI

from crpsgd.comm.communicator import Communicator
from crpsgd.data.rng import worker_rng
from crpsgd.data.shard import shard_bounds
from crpsgd.data.synthetic import parse_synthetic_spec, synthetic_rows
from crpsgd.problems.logreg import LogisticRegression
from crpsgd.schedules.noise import LocalStats, NoiseEstimator, RoundStats


@pytest.fixture
def comm():
    return Communicator(MPI.COMM_WORLD.Dup())


def local_problem(comm):
    spec = parse_synthetic_spec("synthetic:n=3000,d=15,density=0.4,seed=9")
    lo, hi = shard_bounds(spec.n, comm.rank, comm.size)
    return LogisticRegression(synthetic_rows(spec, lo, hi), spec.n, lam=0.01)


def one_round(comm, problem, est, x, batch, seed):
    """One round with the noise slot: returns (this rank's g_i, its idx, the estimate)."""
    rng = worker_rng(seed, comm.rank)
    idx = np.sort(rng.integers(0, problem.n_local, batch))
    buf = np.empty(problem.dim + est.slots)
    grad, slots = buf[: problem.dim], buf[problem.dim :]
    problem.stochastic_grad(x, idx, grad)
    g_i = grad.copy()
    est.fill(slots, LocalStats(1, batch, grad, x, idx, problem))
    comm.allreduce_mean_(buf)
    return g_i, idx, est.update(RoundStats(1, batch, grad, slots, comm.size))


def test_across_workers_matches_numpy_on_the_gathered_gradients(comm):
    if comm.size < 2:
        pytest.skip("the estimate across workers needs N >= 2")
    problem = local_problem(comm)
    x = np.linspace(-0.5, 0.5, problem.dim)
    est = NoiseEstimator(comm.size, "workers", smoothing=0.0)
    rounds_before = comm.stats.rounds
    g_i, _, e = one_round(comm, problem, est, x, batch=32, seed=3)
    assert comm.stats.rounds == rounds_before + 1  # still one Allreduce per round
    G = np.array(comm.comm.allgather(g_i))
    gbar = G.mean(axis=0)
    trace = 32 * G.var(axis=0, ddof=1).sum()
    assert e.trace == pytest.approx(trace, rel=1e-10)
    assert e.grad_sq == pytest.approx(gbar @ gbar - trace / (comm.size * 32), rel=1e-10)
    # every rank holds the same estimate, bit for bit
    assert len({(v.trace, v.grad_sq) for v in comm.comm.allgather(e)}) == 1


def test_within_workers_matches_numpy_on_the_gathered_samples(comm):
    problem = local_problem(comm)
    x = np.linspace(0.5, -0.5, problem.dim)
    est = NoiseEstimator(comm.size, "samples", smoothing=0.0)
    g_i, idx, e = one_round(comm, problem, est, x, batch=24, seed=4)
    A = problem.shard.to_dense()[idx]
    y = problem.shard.y[idx]
    H = (-y / (1.0 + np.exp(y * (A @ x))))[:, None] * A  # per-sample data gradients
    traces = comm.comm.allgather(H.var(axis=0, ddof=1).sum())
    G = np.array(comm.comm.allgather(g_i))
    gbar = G.mean(axis=0)
    assert e.trace == pytest.approx(np.mean(traces), rel=1e-10)
    assert e.grad_sq == pytest.approx(gbar @ gbar - np.mean(traces) / (comm.size * 24), rel=1e-10)
