"""The adaptive schedule spends its whole budget: its last round takes what is left (logged in
``/rounds/budget_fill``), its batches still never shrink, and a run stopped and resumed under
``mpiexec -n 2`` ends bit for bit where the uninterrupted run ends; a fixed schedule keeps
Algorithm 1's rule exactly."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from crpsgd.algorithms.parallel_sgd import parallel_sgd
from crpsgd.comm.communicator import Communicator
from crpsgd.data.rng import worker_rng
from crpsgd.runlog import read_run
from crpsgd.schedules.adaptive import AdaptiveBatch
from crpsgd.schedules.adaptive_inner import InnerProductBatch
from crpsgd.schedules.budget_fill import budget_round
from crpsgd.schedules.schedule import ExponentialBatch, batch_sequence
from tests.conftest import run_mpi
from tests.unit.test_adaptive_loop import problem


def test_budget_round_rule():
    assert budget_round(8, 100, True) == (8, False)
    assert budget_round(8, 15, True) == (15, True)  # 7 would be left: this round takes it
    assert budget_round(8, 16, True) == (8, False)  # 8 left: the next round still fits
    assert budget_round(8, 8, True) == (8, False)  # exactly what is left
    assert budget_round(8, 5, True) == (5, True)  # does not fit: what is left
    assert budget_round(8, 0, True) == (None, False)
    # Algorithm 1: the batch if it fits, else the end
    assert budget_round(8, 15, False) == (8, False)
    assert budget_round(8, 5, False) == (None, False)
    assert budget_round(8, 8, False) == (8, False)


def _run(schedule, budget: int):
    p = problem()
    comm = Communicator(MPI.COMM_SELF)
    result = parallel_sgd(p, comm, schedule, budget, 2.0, np.zeros(p.dim), worker_rng(3, 0), None)
    return result


@pytest.mark.parametrize("kind", ["norm", "inner-product"])
@pytest.mark.parametrize("budget", [3001, 12413, 20000])
def test_the_adaptive_run_spends_exactly_its_budget_and_never_shrinks(kind, budget):
    cls = AdaptiveBatch if kind == "norm" else InnerProductBatch
    schedule = cls(4, 1, eta=1.0, problem=problem())
    result = _run(schedule, budget)
    batches = schedule.state()["batches"][: result.rounds]
    assert result.sfo_per_worker == sum(batches) == budget
    assert batches == sorted(batches) and batches[-1] > 4 * batches[0]


def test_a_fixed_schedule_keeps_algorithm_1():
    sched = ExponentialBatch(4, 1.3)
    for budget in (100, 3001, 20000):
        expected = batch_sequence(sched, budget)
        result = _run(sched, budget)
        assert result.rounds == len(expected) and result.sfo_per_worker == sum(expected)
        assert result.sfo_per_worker < budget  # what Algorithm 1 leaves unused stays unused


DATA = "synthetic:n=2000,d=8,seed=2,cond=100"
INNER = ["--algo", "cr-psgd", "--schedule", "adaptive", "--adaptive-test", "inner-product",
         "--b1", "2", "--eta", "1", "--T", "3000"]  # fmt: skip


@pytest.mark.mpi
def test_inner_product_run_fills_the_budget_and_resumes_bit_for_bit(tmp_path):
    def run(name, env=None):
        out = tmp_path / f"{name}.h5"
        cli = ["-m", "crpsgd", "run", "--data", DATA, "--quiet", "--out", str(out), *INNER]
        return run_mpi(2, cli, env=env), out

    full_proc, full = run("full")
    assert full_proc.returncode == 0, full_proc.stderr
    a = read_run(full)
    b, fill = a.rounds["batch"], a.rounds["budget_fill"]
    assert a.rounds["sfo_per_worker"][-1] == b.sum() == 3000
    assert fill[:-1].sum() == 0 and fill[-1] == 1  # flagged, on the last round only
    assert np.all(b[1:] >= b[:-1])
    along = a.rounds["noise_along"]
    assert np.isnan(along[0]) and np.all(np.isfinite(along[1:]))
    assert a.units["rounds"]["noise_along"][0] == "grad^2"

    stopped, part = run("part", env={"CRPSGD_TEST_STOP_AT": "1:round:9"})
    assert stopped.returncode == 75, stopped.stderr
    resumed = run_mpi(2, ["-m", "crpsgd", "run", "--resume", str(tmp_path / "part.ckpt.h5"),
                          "--quiet"])  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    c = read_run(part)
    np.testing.assert_array_equal(a.x, c.x)
    for name in ("batch", "sfo_per_worker", "noise_var", "noise_along", "budget_fill"):
        np.testing.assert_array_equal(a.rounds[name], c.rounds[name])
