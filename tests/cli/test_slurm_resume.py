"""jobs/resumable_run.sbatch on a running SLURM cluster: a signal before the time limit
makes the job checkpoint, requeue itself and resume, and the finished log equals a run that
was never interrupted. Skipped with a reason where no SLURM cluster is running."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from crpsgd.runlog import read_run
from tests.cli.test_slurm import slurm  # noqa: F401  (the fixture that skips without SLURM)
from tests.conftest import ROOT, run_mpi, wait_for_rounds

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

RUN_ARGS = "--data synthetic:n=2000,d=10 --algo psgd --batch 2 --T 6000 --quiet"


def _queued(job: str) -> bool:
    proc = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True)
    return bool(proc.stdout.strip())


def test_signal_checkpoint_requeue_resume(slurm, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    out.mkdir()
    log = out / "run.h5"
    env = {
        **os.environ,
        "CRPSGD_OUT": str(out),
        "CRPSGD_PYTHON": sys.executable,
        "CRPSGD_LAUNCH": "srun",
        "CRPSGD_RUN_ARGS": RUN_ARGS,
        # 3000 rounds of at least 10 ms: the signal comes long before the end on any machine
        "CRPSGD_TEST_ROUND_DELAY": "0.01",
    }
    job = (
        subprocess.run(
            [
                "sbatch",
                "--parsable",
                "--ntasks=2",
                f"--chdir={ROOT}",
                f"--output={out}/job.out",
                "--time=15",
                str(ROOT / "jobs" / "resumable_run.sbatch"),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        .stdout.strip()
        .split(";")[0]
    )
    assert job, "sbatch did not return a job id"
    try:
        rows = wait_for_rounds(log, 20, timeout=300)
        assert rows >= 20, "the job never logged rounds"
        # what SLURM does before the time limit with --signal=B:USR1@120
        subprocess.run(["scancel", "--signal=USR1", "--batch", job], check=True)
        deadline = time.monotonic() + 600  # a requeued job waits about two minutes to start
        while _queued(job) and time.monotonic() < deadline:
            time.sleep(2)
        assert not _queued(job), "the job did not finish after its requeue"
    finally:
        subprocess.run(["scancel", job], capture_output=True)
    text = (out / "job.out").read_text()
    assert "requeueing job" in text and "resuming from" in text, text[-3000:]
    resumed = read_run(log)
    assert resumed.status == "completed", text[-3000:]
    assert len(resumed.attrs["resumed_at_rounds"]) == 1
    assert not (out / "run.ckpt.h5").exists()

    reference = tmp_path / "reference.h5"
    proc = run_mpi(2, ["-m", "crpsgd", "run", *RUN_ARGS.split(), "--out", str(reference)])
    assert proc.returncode == 0, proc.stderr
    plain = read_run(reference)
    assert np.array_equal(resumed.x, plain.x)
    np.testing.assert_array_equal(resumed.rounds["batch"], plain.rounds["batch"])
    assert resumed.summary["rounds"] == plain.summary["rounds"] == 3000
