"""A job killed with SIGKILL at an arbitrary moment leaves a log that opens and keeps
every row flushed before the kill (SWMR mode of the run log)."""

import os
import signal

import numpy as np
import pytest

from crpsgd.cli import main
from crpsgd.runlog import read_run
from tests.conftest import start_mpi, wait_for_rounds

pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("wait_rows", [1, 3000])
def test_kill_9_of_the_whole_job_leaves_a_readable_log(tmp_path, capsys, wait_rows):
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

    run = read_run(out)
    assert run.status == "running"  # it never completed, and the log says so
    n = len(run.rounds["round"])
    assert n >= wait_rows
    np.testing.assert_array_equal(run.rounds["round"], np.arange(1, n + 1))
    np.testing.assert_array_equal(run.rounds["sfo_per_worker"], np.arange(1, n + 1))
    assert len(run.eval["round"]) >= 1 and run.x is None
    assert main(["info", str(out)]) == 0
    assert "status: running" in capsys.readouterr().out
