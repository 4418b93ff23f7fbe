"""The compiled block of rounds (crpsgd/algorithms/fast_rounds.py) against the Python loop.

Every run here is made twice, once with the fast path and once with ``CRPSGD_FAST_ROUNDS=0``
(every round in Python): the iterate, every ``/rounds`` column but the timings, every
``/eval`` column but the seconds, the summary's counters and the exit status must agree
bit for bit, on one and two ranks, CSR and dense data, PSGD and CR-PSGD, with evaluation
points, replica checks and periodic checkpoints inside the run.
"""

from __future__ import annotations

import os
import re
import signal
import time

import numpy as np
import pytest

from crpsgd.algorithms import fast_rounds
from crpsgd.algorithms.fast_rounds import fast_plan
from crpsgd.comm.communicator import Communicator
from crpsgd.data.synthetic import parse_synthetic_spec, synthetic_rows
from crpsgd.files.checkpoint import read_checkpoint
from crpsgd.problems.logreg import LogisticRegression
from crpsgd.problems.proximal import ProximalProblem
from crpsgd.runlog import read_run
from crpsgd.schedules.adaptive import AdaptiveBatch
from crpsgd.schedules.observed import ObservedSchedule, with_noise_estimate
from crpsgd.schedules.step_size import ConstantStep, LinearWarmup, StepDecay
from tests.conftest import run_mpi
from tests.failure_tools import finish, rank_pids, start_job

TIMING = ("wall_s", "compute_s", "comm_s", "eval_s")
SEEDS = ["--seed", "3"]

CASES: dict[str, list[str]] = {
    "psgd-csr": [
        "--data", "synthetic:n=1500,d=17,seed=5,density=0.3", "--algo", "psgd", "--batch", "5",
        "--T", "3000", "--lam", "1e-3", "--gamma", "0.7", "--eval-factor", "1.05",
        "--check-sync", "37", "--checkpoint-every", "101",
    ],
    "psgd-dense-step": [
        "--data", "synthetic:n=1300,d=12,seed=2", "--algo", "psgd", "--batch", "300",
        "--T", "60000", "--lam", "1e-3", "--gamma", "auto", "--lr-schedule", "step",
        "--warmup", "5000",
    ],
    "cr-psgd-dense": [
        "--data", "synthetic:n=1200,d=9,seed=2", "--algo", "cr-psgd", "--b1", "3",
        "--rho", "1.3", "--T", "9000", "--lam", "1e-3", "--gamma", "auto", "--fstar", "auto",
    ],
    "cr-psgd-csr": [
        "--data", "synthetic:n=2000,d=30,seed=7,density=0.2", "--algo", "cr-psgd", "--b1", "2",
        "--rho", "1.5", "--T", "20000", "--lam", "1e-4", "--gamma", "0.5",
        "--eval-factor", "1.5", "--checkpoint-every", "4",
    ],
    "cr-psgd-sqrt-scaling": [
        "--data", "synthetic:n=1200,d=9,seed=2", "--algo", "cr-psgd", "--b1", "3",
        "--rho", "1.3", "--T", "9000", "--lam", "1e-3", "--gamma", "0.2",
        "--lr-scaling", "sqrt", "--checkpoint-every", "5",
    ],
}  # fmt: skip


def _run(n: int, args: list[str], out, fast: bool):
    env = {} if fast else {fast_rounds.ENV: "0"}
    return run_mpi(
        n, ["-m", "crpsgd", "run", *args, *SEEDS, "--out", str(out), "--quiet"], 240, env
    )


def assert_same_run(a, b) -> None:
    """Bitwise equality of everything a run determines (all but the seconds)."""
    np.testing.assert_array_equal(np.asarray(a.x), np.asarray(b.x))
    for name in ("rounds", "eval", "outer"):
        ta, tb = getattr(a, name), getattr(b, name)
        assert sorted(ta) == sorted(tb)
        for column in ta:
            if column not in TIMING:
                va, vb = np.asarray(ta[column]), np.asarray(tb[column])
                assert va.dtype == vb.dtype and va.shape == vb.shape, f"{name}/{column}"
                assert va.tobytes() == vb.tobytes(), f"{name}/{column} differs"
    for key in ("rounds", "sfo_per_worker", "sfo_total", "comm_rounds", "comm_bytes"):
        if key in a.summary:
            assert a.summary[key] == b.summary[key], key


@pytest.mark.mpi
@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_path_is_bitwise_the_python_path(tmp_path, case, n):
    fast, slow = tmp_path / "fast.h5", tmp_path / "slow.h5"
    for out, flag in ((fast, True), (slow, False)):
        proc = _run(n, CASES[case], out, flag)
        assert proc.returncode == 0, proc.stderr
    a, b = read_run(fast), read_run(slow)
    assert len(a.rounds["round"]) > 3
    if n == 2:  # the observing noise estimate is logged, and the same
        assert np.isfinite(a.rounds["noise_var"]).any()
    assert_same_run(a, b)


@pytest.mark.mpi
@pytest.mark.parametrize("n", [1, 2])
def test_divergence_raises_on_every_rank_at_the_same_round(tmp_path, n):
    args = ["--algo", "psgd", "--batch", "2", "--T", "2000", "--lam", "0", "--gamma", "1e300"]
    args += ["--data", "synthetic:n=500,d=5,scale=30", "--eval-factor", "1.01"]
    messages = []
    for out, flag in ((tmp_path / "fast.h5", True), (tmp_path / "slow.h5", False)):
        proc = _run(n, args, out, flag)
        assert proc.returncode == 3, proc.stderr
        assert proc.stderr.count("crpsgd: error: diverged at round") == 1, proc.stderr
        messages.append(re.search(r"diverged at round \d+", proc.stderr).group(0))
    assert messages[0] == messages[1]
    a, b = read_run(tmp_path / "fast.h5"), read_run(tmp_path / "slow.h5")
    assert a.status == b.status and a.status.startswith("failed: diverged at round")
    for column in ("round", "batch", "sfo_per_worker", "step_size", "noise_var"):
        assert a.rounds[column].tobytes() == b.rounds[column].tobytes(), column
    assert a.eval["objective"].tobytes() == b.eval["objective"].tobytes()


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize(("sig", "rank"), [(signal.SIGTERM, 1), (signal.SIGUSR1, 0)])
def test_signal_during_a_long_fast_run_checkpoints_and_exits_75(tmp_path, sig, rank):
    """No test hook (they turn the fast path off): the rounds run in compiled blocks, the
    handler runs between blocks and the stop is agreed in the next round."""
    out = tmp_path / "run.h5"
    args = ["--algo", "psgd", "--batch", "4", "--T", "400000000", "--quiet"]
    args += ["--data", "synthetic:n=3000,d=20,density=0.5", "--gamma", "0.5", "--out", str(out)]
    job, marker = start_job(2, args)
    pids = rank_pids(marker, 2)
    # well into the compiled rounds (past the first blocks; the first compile of the block
    # can take tens of seconds on a loaded machine, hence the generous deadline)
    deadline = time.monotonic() + 300
    rows = 0
    while rows < 4000 and time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            rows = len(read_run(out).rounds["round"])
        except Exception:
            rows = 0
    assert rows >= 4000
    sent = time.monotonic()
    os.kill(pids[rank], sig)
    code, err, _ = finish(job, 60)
    took = time.monotonic() - sent
    assert code == 75 and took < 20, err
    assert err.count("crpsgd:") == 1 and "stopped" in err, err
    log = read_run(out)
    ckpt = read_checkpoint(tmp_path / "run.ckpt.h5")
    assert log.status.startswith("preempted")
    assert ckpt.rounds == len(log.rounds["round"]) == int(log.rounds["round"][-1])
    assert ckpt.rounds < 100_000_000


# ---------------------------------------------------------------- when the fast path applies


def _problem(sparse: bool) -> LogisticRegression:
    spec = "synthetic:n=200,d=6,seed=1" + (",density=0.5" if sparse else "")
    shard = synthetic_rows(parse_synthetic_spec(spec), 0, 200)
    return LogisticRegression(shard, 200, 1e-3)


def _buf(problem, schedule) -> np.ndarray:
    return np.empty(problem.dim + schedule.extra_slots)


@pytest.mark.parametrize("sparse", [True, False])
def test_plan_for_logistic_regression_and_pure_schedules(sparse, monkeypatch):
    comm = Communicator()
    problem = _problem(sparse)
    schedule = with_noise_estimate(7, 1, problem)
    rules = [ConstantStep(0.1), StepDecay(0.1, 100), LinearWarmup(ConstantStep(0.1), 50)]
    for rule in rules:
        plan = fast_plan(problem, comm, schedule, rule, _buf(problem, schedule))
        assert (
            plan is not None and plan.observer is None and len(plan.kernel) == (4 if sparse else 2)
        )
    observed = ObservedSchedule(7, 2, problem=problem, noise_source="workers")
    plan = fast_plan(problem, comm, observed, rules[0], _buf(problem, observed))
    assert plan is not None and plan.observer is observed.noise
    monkeypatch.setenv(fast_rounds.ENV, "0")
    assert fast_plan(problem, comm, schedule, rules[0], _buf(problem, schedule)) is None


def test_no_plan_where_a_round_needs_python(monkeypatch):
    comm = Communicator()
    problem = _problem(True)
    rule = ConstantStep(0.1)
    adaptive = AdaptiveBatch(4, 1, problem=problem)
    assert fast_plan(problem, comm, adaptive, rule, _buf(problem, adaptive)) is None
    prox = ProximalProblem(problem, 1.0, np.zeros(problem.dim))
    pure = with_noise_estimate(4, 1, prox)
    assert fast_plan(prox, comm, pure, rule, _buf(prox, pure)) is None
    assert fast_plan(problem, comm, pure, lambda s: 0.1, _buf(problem, pure)) is None
    monkeypatch.setattr(comm, "allreduce_mean_", lambda buf: buf)  # a replaced round
    assert fast_plan(problem, comm, pure, rule, _buf(problem, pure)) is None
    monkeypatch.undo()
    assert fast_plan(problem, comm, pure, rule, _buf(problem, pure)) is not None
    monkeypatch.setattr(comm, "_round_delay_s", 0.01)
    assert fast_plan(problem, comm, pure, rule, _buf(problem, pure)) is None


def test_next_due_is_the_first_round_due_says(tmp_path):
    from crpsgd.algorithms.control import RunControl

    comm = Communicator()
    for every, sync, path in ((7, 0, tmp_path / "c"), (0, 5, None), (4, 6, tmp_path / "c")):
        control = RunControl(comm, path, every=every, check_sync=sync, start_rounds=2)
        for rounds in range(0, 40):
            first = next(r for r in range(rounds + 1, 200) if control.due(r))
            assert control.next_due(rounds) == first
    assert RunControl(comm, None, every=5).next_due(3) is None


# ---------------------------------------------------------------- the run log's bulk append


def _row(t: int) -> dict:
    return dict(
        round=t, batch=2 * t, sfo_per_worker=t * t, sfo_total=4 * t * t, step_size=0.1 * t,
        wall_s=0.01 * t, compute_s=0.001, comm_s=0.002, noise_var=0.5 * t,
    )  # fmt: skip


@pytest.mark.parametrize("flush_rows", [2, 1024])
def test_add_rounds_is_add_round_row_by_row(tmp_path, flush_rows):
    from crpsgd.runlog import RunLog

    one, bulk = tmp_path / "one.h5", tmp_path / "bulk.h5"
    log = RunLog(one, {"algorithm": "psgd"}, flush_rows=flush_rows)
    for t in range(1, 12):
        log.add_round(**_row(t))
    log.finish(np.zeros(2), {})
    log = RunLog(bulk, {"algorithm": "psgd"}, flush_rows=flush_rows)
    log.add_round(**_row(1))  # rows and blocks interleaved keep their order
    rows = [_row(t) for t in range(2, 7)]
    log.add_rounds({k: np.array([r[k] for r in rows]) for k in rows[0]}, len(rows))
    log.add_round(**_row(7))
    rows = [_row(t) for t in range(8, 12)]
    block = {k: np.array([r[k] for r in rows]) for k in rows[0] if k != "compute_s"}
    log.add_rounds({**block, "compute_s": 0.001}, len(rows))  # a scalar: every row
    log.add_rounds({}, 0)
    log.finish(np.zeros(2), {})
    a, b = read_run(one).rounds, read_run(bulk).rounds
    assert sorted(a) == sorted(b)
    for column in a:
        assert a[column].dtype == b[column].dtype
        np.testing.assert_array_equal(a[column], b[column], err_msg=column)
    np.testing.assert_array_equal(b["round"], np.arange(1, 12))
    assert np.isnan(b["grad_sq_est"]).all() and (b["local_steps"] == 1).all()


def test_add_rounds_copies_its_arrays(tmp_path):
    from crpsgd.runlog import RunLog

    log = RunLog(tmp_path / "r.h5", {"algorithm": "psgd"})
    rows = [_row(t) for t in (1, 2)]
    block = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    log.add_rounds(block, 2)
    block["batch"][:] = -1  # the loop reuses its arrays for the next block
    log.finish(np.zeros(2), {})
    np.testing.assert_array_equal(read_run(tmp_path / "r.h5").rounds["batch"], [2, 4])
