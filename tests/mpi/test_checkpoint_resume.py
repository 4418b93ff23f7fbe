"""Checkpoint and resume: a run stopped (signal, or killed after a periodic checkpoint) and
resumed with ``--resume`` ends with the same iterate, bit for bit, and the same log rows as
the run that was never interrupted."""

import os
import signal
import time
from types import SimpleNamespace

import numpy as np
import pytest

from crpsgd.algorithms.control import stop_on_signals
from crpsgd.files.checkpoint import read_checkpoint
from crpsgd.runlog import read_run
from tests.conftest import mpiexec, run_mpi, start_mpi, wait_for_rounds

pytestmark = pytest.mark.mpi

DATA = "synthetic:n=1200,d=8,seed=2"
CASES = {
    "cr-psgd": ["--algo", "cr-psgd", "--b1", "2", "--rho", "1.2", "--T", "3000"],
    "psgd": ["--algo", "psgd", "--batch", "3", "--T", "900"],
    # the gain reads the noise estimate's averages: a resume must find them in the checkpoint
    "cr-psgd-adascale": [
        "--algo",
        "cr-psgd",
        "--b1",
        "2",
        "--rho",
        "1.2",
        "--T",
        "3000",
        "--lr-scaling",
        "adascale",
    ],  # fmt: skip
    "local-sgd": ["--algo", "local-sgd", "--batch", "2", "--period", "4", "--T", "1200"],
    "post-local-sgd": [
        "--algo",
        "post-local-sgd",
        "--batch",
        "2",
        "--period",
        "4",
        "--switch-at",
        "20",
        "--T",
        "1200",
    ],
    # AdamW's moments are each worker's own: a resume that lost them would drift
    "diloco": [
        "--algo",
        "diloco",
        "--batch",
        "2",
        "--period",
        "4",
        "--inner-optimizer",
        "adamw",
        "--gamma",
        "0.05",
        "--T",
        "1200",
    ],
    # a growing inner batch: the resumed run finds its inner step from the SFO spent
    "local-sgd-growing": [
        "--algo",
        "local-sgd",
        "--schedule",
        "exponential",
        "--b1",
        "2",
        "--rho",
        "1.05",
        "--period",
        "4",
        "--T",
        "1200",
    ],
    # the adaptive schedule's state (batches, estimates) goes into the checkpoint
    "local-sgd-adaptive": [
        "--algo",
        "local-sgd",
        "--schedule",
        "adaptive",
        "--b1",
        "2",
        "--period",
        "2",
        "--T",
        "1200",
    ],
    "diloco-growing": [
        "--algo",
        "diloco",
        "--schedule",
        "exponential",
        "--b1",
        "2",
        "--rho",
        "1.05",
        "--period",
        "4",
        "--inner-optimizer",
        "adamw",
        "--gamma",
        "0.05",
        "--T",
        "1200",
    ],
    "catalyst": [
        "--algo",
        "cr-psgd-catalyst",
        "--problem",
        "logreg-nonconvex",
        "--b1",
        "2",
        "--rho",
        "1.5",
        "--theta",
        "0.8",
        "--gamma",
        "0.3",
        "--T",
        "1600",
    ],
}


def _cli(out, args):
    """``python`` arguments of a quiet ``crpsgd run`` on ``DATA`` logging to ``out``."""
    return ["-m", "crpsgd", "run", "--data", DATA, "--quiet", "--out", str(out), *args]


def _run(n, args, out, env=None):
    return run_mpi(n, _cli(out, args), env=env)


def _same_run(a, b):
    assert a.status == b.status == "completed"
    assert np.array_equal(a.x, b.x)  # bit for bit
    assert sorted(a.rounds) == sorted(b.rounds)
    for name in ("round", "batch", "sfo_per_worker", "step_size", "lr_scale"):
        if name in a.rounds:
            np.testing.assert_array_equal(a.rounds[name], b.rounds[name])
    for name in ("round", "sfo_per_worker", "objective", "grad_norm_sq"):
        np.testing.assert_array_equal(a.eval[name], b.eval[name])
    assert a.summary["rounds"] == b.summary["rounds"]
    assert a.summary["sfo_per_worker"] == b.summary["sfo_per_worker"]
    for run in (a, b):  # a resumed run's seconds count every segment, like its rows
        for table, name in (("rounds", "compute_s"), ("rounds", "comm_s"), ("eval", "eval_s")):
            rows = getattr(run, table)[name]
            assert run.summary[name] == pytest.approx(float(np.sum(rows)), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("algo", list(CASES))
def test_stop_and_resume_is_bitwise_identical(tmp_path, algo):
    args = CASES[algo]
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    assert _run(2, args, full).returncode == 0
    stopped = _run(2, args, part, env={"CRPSGD_TEST_STOP_AT": "1:round:7"})
    assert stopped.returncode == 75, stopped.stderr
    ckpt_path = tmp_path / "part.ckpt.h5"
    # the hint names the launcher and rank count, so it runs as printed
    assert f"continue with: mpiexec -n 2 crpsgd run --resume {ckpt_path}" in stopped.stderr
    assert stopped.stderr.count("crpsgd:") == 1
    log = read_run(part)
    assert log.status.startswith("preempted: stopped after round")
    ckpt = read_checkpoint(ckpt_path)
    assert ckpt.rounds >= 7 and ckpt.n_workers == 2 and len(ckpt.rng_states) == 2
    assert ckpt.rounds < read_run(full).summary["rounds"]

    resumed = run_mpi(2, ["-m", "crpsgd", "run", "--resume", str(ckpt_path), "--quiet"])
    assert resumed.returncode == 0, resumed.stderr
    _same_run(read_run(full), read_run(part))
    assert read_run(part).attrs["resumed_at_rounds"] == [ckpt.rounds]
    assert not ckpt_path.exists()  # a completed run leaves nothing to resume
    if algo == "catalyst":
        for name in ("outer", "round", "objective"):
            a, b = read_run(full), read_run(part)
            np.testing.assert_array_equal(a.outer[name], b.outer[name])


def test_kill_9_after_a_periodic_checkpoint_then_resume(tmp_path):
    args = ["--algo", "psgd", "--batch", "2", "--T", "4000"]
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    assert _run(2, args, full).returncode == 0
    ckpt_path = tmp_path / "part.ckpt.h5"
    job = start_mpi(
        2,
        _cli(part, ["--checkpoint-every", "50", *args]),
        # 2000 rounds of at least 5 ms: the kill comes before the run ends on any machine
        env={"CRPSGD_TEST_ROUND_DELAY": "0.005"},
    )
    try:
        deadline = time.monotonic() + 90
        while not ckpt_path.exists() and time.monotonic() < deadline and job.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=30)
    assert ckpt_path.exists(), "no checkpoint was written before the kill"
    assert read_run(part).status == "running"
    resumed = run_mpi(2, ["-m", "crpsgd", "run", "--resume", str(ckpt_path), "--quiet"])
    assert resumed.returncode == 0, resumed.stderr
    _same_run(read_run(full), read_run(part))


def test_sigusr1_to_the_launcher_checkpoints_and_exits_75(tmp_path):
    launcher = mpiexec()
    if launcher is None or "Open MPI" in " ".join(launcher):
        pytest.skip("needs MPICH's mpiexec, which forwards SIGUSR1 to the ranks")
    out = tmp_path / "run.h5"
    job = start_mpi(2, _cli(out, ["--algo", "psgd", "--batch", "1", "--T", "10000000"]))
    assert wait_for_rounds(out, 10) >= 10
    job.send_signal(signal.SIGUSR1)
    _, err = job.communicate(timeout=60)
    assert job.returncode == 75, err
    assert read_checkpoint(tmp_path / "run.ckpt.h5").rounds >= 10
    assert read_run(out).status.startswith("preempted")


def test_resume_needs_the_same_rank_count_and_configuration(tmp_path):
    part = tmp_path / "part.h5"
    args = CASES["psgd"]
    assert _run(2, args, part, env={"CRPSGD_TEST_STOP_AT": "0:round:3"}).returncode == 75
    ckpt = str(tmp_path / "part.ckpt.h5")
    other_n = run_mpi(3, ["-m", "crpsgd", "run", "--resume", ckpt])
    assert other_n.returncode == 2
    assert "written by a run on 2 ranks; resume it on 2 ranks, not 3" in other_n.stderr
    changed = run_mpi(2, ["-m", "crpsgd", "run", "--resume", ckpt, "--batch", "5"])
    assert changed.returncode == 2 and "--batch cannot be changed" in changed.stderr


def test_a_usage_error_on_every_rank_is_exit_2_every_time(tmp_path):
    """Every rank refuses the resume and exits 2; the launcher must report 2, not 9 (a rank
    leaving at once with status 2 once made MPICH's launcher kill the others before their
    own exits: status 9 in about one job of five)."""
    part = tmp_path / "part.h5"
    assert _run(2, CASES["psgd"], part, env={"CRPSGD_TEST_STOP_AT": "0:round:3"}).returncode == 75
    ckpt = str(tmp_path / "part.ckpt.h5")
    codes = [run_mpi(3, ["-m", "crpsgd", "run", "--resume", ckpt]).returncode for _ in range(6)]
    assert codes == [2] * 6


def _deliver(sig: int) -> None:
    """Send ``sig`` to this process and give the interpreter a moment to run its handler."""
    os.kill(os.getpid(), sig)
    time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGTERM])
def test_stop_signals_request_a_stop_during_the_run_and_are_ignored_after_it(sig):
    before = signal.getsignal(sig)
    comm = SimpleNamespace(stop_requested=False)
    try:
        with stop_on_signals(comm):
            _deliver(sig)
            assert comm.stop_requested
        # a late signal (SLURM's, forwarded while the finished run shuts down) must not kill it
        assert signal.getsignal(sig) is signal.SIG_IGN
        _deliver(sig)
    finally:
        signal.signal(sig, before)


def test_stop_signal_handlers_come_back_when_the_run_fails():
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(RuntimeError), stop_on_signals(SimpleNamespace(stop_requested=False)):
        raise RuntimeError("a failing run")
    assert signal.getsignal(signal.SIGUSR1) is before
