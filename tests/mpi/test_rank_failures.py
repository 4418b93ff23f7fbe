"""A failure on any rank, at any point, ends the whole job within seconds with one message,
and the log records it; divergence stops the run cleanly on every rank."""

import time

import numpy as np
import pytest

from crpsgd.runlog import read_run
from tests.conftest import run_mpi

pytestmark = pytest.mark.mpi

RUN = [
    "-m",
    "crpsgd",
    "run",
    "--algo",
    "psgd",
    "--batch",
    "4",
    "--T",
    "4000",
    "--data",
    "synthetic:n=4000,d=10",
    "--quiet",
]


@pytest.mark.parametrize(
    ("fail_at", "rank"),
    [("3:round:20", 3), ("0:round:5", 0), ("1:eval:3", 1), ("2:round:1", 2)],
)
def test_failure_on_one_rank_aborts_the_job_and_is_logged(tmp_path, fail_at, rank):
    out = tmp_path / "run.h5"
    start = time.monotonic()
    proc = run_mpi(4, [*RUN, "--out", str(out)], timeout=60, env={"CRPSGD_TEST_FAIL_AT": fail_at})
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert elapsed < 45
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("crpsgd:")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"crpsgd: rank {rank}: RuntimeError: injected failure")
    assert "Traceback" not in proc.stderr
    run = read_run(out)
    assert run.status.startswith(f"failed: rank {rank}: RuntimeError: injected failure"), run.status
    assert run.x is None


def test_divergence_stops_every_rank_with_one_message(tmp_path):
    out = tmp_path / "run.h5"
    proc = run_mpi(
        2,
        [
            "-m",
            "crpsgd",
            "run",
            "--algo",
            "psgd",
            "--batch",
            "2",
            "--T",
            "2000",
            "--data",
            "synthetic:n=500,d=5,scale=30",
            "--lam",
            "0",
            "--gamma",
            "1e300",
            "--eval-factor",
            "1.01",
            "--quiet",
            "--out",
            str(out),
        ],
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("crpsgd: error: diverged at round") == 1, proc.stderr
    assert "last finite objective" in proc.stderr and "--gamma=1e+300" in proc.stderr
    run = read_run(out)
    assert run.status.startswith("failed: diverged at round")
    assert len(run.eval["objective"]) >= 1 and np.isfinite(run.eval["objective"]).all()


def test_check_sync_runs_and_is_counted_apart_from_rounds(tmp_path):
    base = [
        "-m",
        "crpsgd",
        "run",
        "--algo",
        "psgd",
        "--batch",
        "4",
        "--T",
        "400",
        "--data",
        "synthetic:n=400,d=6",
        "--quiet",
    ]
    plain = run_mpi(2, [*base, "--out", str(tmp_path / "a.h5")])
    checked = run_mpi(2, [*base, "--check-sync", "10", "--out", str(tmp_path / "b.h5")])
    assert plain.returncode == 0 and checked.returncode == 0, checked.stderr
    a, b = read_run(tmp_path / "a.h5"), read_run(tmp_path / "b.h5")
    assert a.summary["rounds"] == b.summary["rounds"] == 100
    assert b.summary["eval_collectives"] == a.summary["eval_collectives"] + 10
    assert np.array_equal(a.x, b.x)
