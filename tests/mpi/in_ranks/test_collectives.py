"""Collectives and the parallel loop on however many ranks this runs on."""

import numpy as np
import pytest
from mpi4py import MPI

from crpsgd.algorithms.evaluation import Evaluator
from crpsgd.algorithms.parallel_sgd import parallel_sgd
from crpsgd.comm.communicator import Communicator
from crpsgd.data.loader import load_shard
from crpsgd.data.rng import worker_rng
from crpsgd.data.shard import shard_bounds
from crpsgd.errors import UsageError
from crpsgd.problems.logreg import LogisticRegression
from crpsgd.schedules.schedule import ExponentialBatch


@pytest.fixture
def comm():
    return Communicator(MPI.COMM_WORLD.Dup())


def test_allreduce_mean_is_one_round(comm):
    buf = np.arange(5.0) + comm.rank
    comm.allreduce_mean_(buf)
    np.testing.assert_allclose(buf, np.arange(5.0) + (comm.size - 1) / 2)
    assert comm.stats.rounds == 1 and comm.stats.round_bytes == 48  # 5 values + control slot
    assert comm.stats.eval_calls == 0 and not comm.stop_agreed


def test_a_stop_request_on_one_rank_reaches_all_in_the_same_round(comm):
    comm.stop_requested = comm.rank == comm.size - 1
    buf = np.ones(3)
    comm.allreduce_mean_(buf)
    assert comm.stop_agreed
    np.testing.assert_array_equal(buf, np.ones(3))
    comm.stop_requested = False
    comm.allreduce_mean_(buf)
    assert not comm.stop_agreed


def test_evaluation_collectives_are_not_rounds(comm):
    buf = np.ones(3)
    comm.eval_allreduce_sum_(buf)
    np.testing.assert_array_equal(buf, np.full(3, comm.size))
    assert comm.eval_allreduce_max(float(comm.rank)) == comm.size - 1
    assert comm.stats.rounds == 0 and comm.stats.eval_calls == 2


def test_an_error_on_one_rank_is_raised_on_all(comm):
    last = comm.size - 1
    error = UsageError("data.svm:3: bad label") if comm.rank == last else None
    with pytest.raises(UsageError, match="data.svm:3: bad label"):
        comm.raise_if_any(error)
    comm.raise_if_any(None)  # and nothing when every rank is fine


def test_shards_partition_the_rows(comm):
    n = 1003
    start, stop = shard_bounds(n, comm.rank, comm.size)
    bounds = comm.comm.allgather((start, stop))
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    assert max(b - a for a, b in bounds) - min(b - a for a, b in bounds) <= 1


def test_worker_streams_differ(comm):
    draws = comm.comm.allgather(worker_rng(5, comm.rank).integers(0, 2**62, size=4).tolist())
    assert len({tuple(d) for d in draws}) == comm.size


def test_replicas_stay_identical_and_rounds_are_counted(comm):
    shard, n = load_shard("synthetic:n=600,d=8,seed=2", comm.rank, comm.size)
    problem = LogisticRegression(shard, n, 1e-2)
    result = parallel_sgd(
        problem,
        comm,
        ExponentialBatch(2, 1.5),
        200,
        0.5,
        np.zeros(8),
        worker_rng(1, comm.rank),
        Evaluator(problem, comm),
    )
    assert result.rounds == comm.stats.rounds == 9  # 2 3 4 6 10 15 22 34 51 -> 147 (+76 > 200)
    assert result.sfo_per_worker == 147
    gathered = comm.comm.allgather(result.x)
    for x in gathered:
        np.testing.assert_array_equal(x, gathered[0])


def test_replica_check_passes_equal_iterates_and_stops_all_ranks_on_a_difference(comm):
    from crpsgd.algorithms.control import RunControl
    from crpsgd.errors import ReplicaMismatch

    control = RunControl(comm, path=None, check_sync=1)
    control.verify_replicas(np.linspace(0, 1, 7), rounds=1)
    if comm.size == 1:
        return
    x = np.linspace(0, 1, 7)
    x[3] = 0.5 + comm.rank * 2.0**-40  # differs in the last bits on every rank
    with pytest.raises(ReplicaMismatch, match="differ after round 2"):
        control.verify_replicas(x, rounds=2)
