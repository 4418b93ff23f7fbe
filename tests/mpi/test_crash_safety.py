"""A job killed with SIGKILL at an arbitrary moment leaves a log that opens and keeps
every row flushed before the kill (SWMR mode of the run log); ``crpsgd info`` says the run
ended without a status and makes the log readable by plain HDF5 readers. Two jobs on one
``--out``: the second is refused and the first's log stays intact."""

import os
import signal
import time

import h5py
import numpy as np
import pytest

from crpsgd.runlog import read_run
from tests.conftest import run_cli, run_mpi, start_mpi, wait_for_rounds

pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("wait_rows", [1, 3000])
def test_kill_9_of_the_whole_job_leaves_a_readable_log(tmp_path, wait_rows):
    out = tmp_path / "killed.h5"
    job = start_mpi(
        2,
        [
            "-m",
            "crpsgd",
            "run",
            "--algo",
            "psgd",
            "--batch",
            "1",
            "--T",
            "100000000",
            "--data",
            "synthetic:n=2000,d=20",
            "--quiet",
            "--out",
            str(out),
        ],
    )
    try:
        assert wait_for_rounds(out, wait_rows) >= wait_rows, "the run never flushed rows"
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=30)

    # mpiexec is reaped at once; the ranks (children of its proxy) may take a moment more to
    # die and so release the writer's lock: wait for that, up to 10 s
    deadline = time.monotonic() + 10
    while read_run(out).state != "dead" and time.monotonic() < deadline:
        time.sleep(0.1)
    run = read_run(out)
    assert run.status == "running"  # it never completed, and the log says so
    n = len(run.rounds["round"])
    assert n >= wait_rows
    np.testing.assert_array_equal(run.rounds["round"], np.arange(1, n + 1))
    np.testing.assert_array_equal(run.rounds["sfo_per_worker"], np.arange(1, n + 1))
    assert len(run.eval["round"]) >= 1 and run.x is None
    assert run.state == "dead"
    with pytest.raises(OSError, match="open for write"):
        h5py.File(out, "r")  # before any crpsgd command touched it
    proc = run_cli(["info", str(out)])
    assert proc.returncode == 0, proc.stderr
    assert "status: running" in proc.stdout
    assert f"ended without a status (killed?) after round {n}" in proc.stdout
    assert "rewrote it so that any HDF5 tool opens it" in proc.stderr
    with h5py.File(out, "r") as f:  # plain h5py, default locking: every flushed round
        np.testing.assert_array_equal(f["rounds/round"][()], run.rounds["round"])
        np.testing.assert_array_equal(f["rounds/sfo_per_worker"][()], np.arange(1, n + 1))
        assert f.attrs["status"] == "running"


def test_two_jobs_on_one_out_second_gets_exit_2_first_log_intact(tmp_path):
    out = tmp_path / "shared.h5"
    args = ["-m", "crpsgd", "run", "--algo", "psgd", "--batch", "1", "--T", "300"]
    args += ["--data", "synthetic:n=400,d=5", "--quiet", "--out", str(out)]
    first = start_mpi(2, args, env={"CRPSGD_TEST_ROUND_DELAY": "0.03"})
    try:
        assert wait_for_rounds(out, 1) >= 1, "the first job never flushed rows"
        second = run_mpi(2, [*args, "--overwrite"], timeout=60)
        assert first.poll() is None, "the first job should still be running"
        assert second.returncode == 2, second.stderr
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "being written by a live run (pid" in lines[0], lines
        assert "--out=" in lines[0] and "Traceback" not in second.stderr
        assert first.wait(timeout=90) == 0, first.stderr.read()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    run = read_run(out)
    assert run.status == "completed"
    np.testing.assert_array_equal(run.rounds["round"], np.arange(1, 301))
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "completed"
