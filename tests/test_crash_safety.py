"""A job killed with SIGKILL at an arbitrary moment leaves a log that opens and keeps
every row flushed before the kill (SWMR mode of the run log)."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from crpsgd.cli import main
from crpsgd.runlog import read_run
from tests.conftest import ROOT, mpiexec

pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("wait_rows", [1, 3000])
def test_kill_9_of_the_whole_job_leaves_a_readable_log(tmp_path, capsys, wait_rows):
    launcher = mpiexec()
    if launcher is None:
        pytest.skip("no MPI launcher (mpiexec) found")
    out = tmp_path / "killed.h5"
    job = subprocess.Popen(
        [
            *launcher,
            "-n",
            "2",
            sys.executable,
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
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        rows = 0
        while rows < wait_rows and time.monotonic() < deadline:
            time.sleep(0.2)
            if out.exists():
                try:  # read while the writer is running
                    rows = len(read_run(out).rounds["round"])
                except Exception:
                    rows = 0
        assert rows >= wait_rows, "the run never flushed rows"
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=30)

    run = read_run(out)
    assert run.status == "running"  # it never completed, and the log says so
    n = len(run.rounds["round"])
    assert n >= wait_rows
    np.testing.assert_array_equal(run.rounds["round"], np.arange(1, n + 1))
    np.testing.assert_array_equal(run.rounds["sfo_per_worker"], np.arange(1, n + 1))
    assert len(run.eval["round"]) >= 1 and run.x is None
    assert main(["info", str(out)]) == 0
    assert "status: running" in capsys.readouterr().out
