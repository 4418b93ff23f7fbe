"""Each jobs/*.sbatch script, in its short version (CRPSGD_QUICK=1), submitted to a running
SLURM cluster with ``sbatch --wait``; the HDF5 logs it wrote are read back.

Skipped with a reason where no SLURM cluster is running (CI starts a one-node cluster with
``.ci/slurm-up.sh`` before the tests)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from crpsgd.runlog import read_run
from tests.conftest import ROOT, SHARED_DATA

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

JOBS = ROOT / "jobs"


def _slurm_reason() -> str | None:
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "no SLURM here (sbatch/sinfo not found; CI starts one with .ci/slurm-up.sh)"
    try:
        states = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20
        ).stdout.split()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"no SLURM cluster answering ({exc})"
    if not any(s.rstrip("*") in ("idle", "mixed", "allocated") for s in states):
        return f"no SLURM node up (sinfo states: {states or 'none'})"
    return None


@pytest.fixture(scope="module")
def slurm():
    reason = _slurm_reason()
    if reason:
        pytest.skip(reason)


def submit(script, out, launch="srun", timeout=900, minutes=15, extra_env=None):
    out.mkdir(parents=True, exist_ok=True)  # slurmd does not create --output directories
    env = {
        **os.environ,
        "CRPSGD_QUICK": "1",
        "CRPSGD_OUT": str(out),
        "CRPSGD_DATA_DIR": str(SHARED_DATA),
        "CRPSGD_PYTHON": sys.executable,
        "CRPSGD_LAUNCH": launch,
        **(extra_env or {}),
    }
    proc = subprocess.run(
        [
            "sbatch",
            "--wait",
            "--parsable",
            f"--chdir={ROOT}",
            f"--output={out}/job.out",
            f"--time={minutes}",
            str(JOBS / script),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    job_out = (out / "job.out").read_text() if (out / "job.out").exists() else ""
    assert proc.returncode == 0, f"sbatch: {proc.stderr}\n--- job output ---\n{job_out[-4000:]}"
    return job_out


def check_logs(out, n_workers, min_completed):
    index = json.loads((out / "logs" / "index.json").read_text())
    done = [r for r in index["runs"] if r["status"] == "completed"]
    assert len(done) >= min_completed, index["runs"]
    for r in done:
        path = ROOT / r["log"]
        run = read_run(path)
        assert run.status == "completed"
        assert run.attrs["n_workers"] == n_workers
        assert run.summary["rounds"] >= 1
        assert len(run.eval["objective"]) >= 2
    return index


@pytest.mark.parametrize(
    ("script", "launch", "n"),
    [("logreg_synthetic_n10.sbatch", "srun", 10), ("logreg_synthetic_n10.sbatch", "mpirun", 10)],
)
def test_synthetic_job(slurm, tmp_path, script, launch, n):
    out = tmp_path / "out"
    submit(script, out, launch)
    check_logs(out, n, min_completed=5)
    assert (out / "logreg_synthetic-quick.md").is_file()


def test_logreg_n10_job(slurm, tmp_path):
    if not (SHARED_DATA / "a9a").is_file():
        pytest.skip(f"a9a not found in {SHARED_DATA}")
    out = tmp_path / "out"
    submit("logreg_n10.sbatch", out)
    check_logs(out, 10, min_completed=5)
    table = (out / "logreg_a9a-quick.md").read_text()
    assert "CR-PSGD" in table and "PSGD, small batch" in table


def test_catalyst_n8_job(slurm, tmp_path):
    if not (SHARED_DATA / "a9a").is_file():
        pytest.skip(f"a9a not found in {SHARED_DATA}")
    out = tmp_path / "out"
    submit("catalyst_n8.sbatch", out)
    index = json.loads((out / "logs" / "index.json").read_text())
    assert index["n_workers"] == 8 and set(index["problems"]) == {"a9a", "mlp"}
    for problem in index["problems"].values():
        methods = {r["method"] for r in problem["runs"]}
        assert methods == {"catalyst", "psgd", "pr-sgd"}, methods
        for r in problem["runs"]:
            run = read_run(ROOT / r["log"])
            assert run.status == "completed" and run.attrs["n_workers"] == 8
            assert run.summary["sfo_per_worker"] <= 2048
            assert len(run.eval["grad_norm_sq"]) >= 2
    table = (out / "catalyst-quick.md").read_text()
    assert "CR-PSGD-Catalyst" in table and "PR-SGD" in table


def test_resnet20_n8_job(slurm, tmp_path):
    """The reduced version on the digits stand-in, its budget capped at T = 600 per worker by
    the test-only hook (the job script and definition are the ones users run)."""
    pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")
    out = tmp_path / "out"
    cap = {"CRPSGD_TEST_MAX_T": "600"}
    submit("resnet20_cifar10_n8.sbatch", out, timeout=1500, minutes=25, extra_env=cap)
    index = json.loads((out / "logs" / "index.json").read_text())
    runs = index["problems"]["cifar10"]["runs"]
    assert {r["method"] for r in runs} == {"cr-psgd", "psgd-small", "psgd-large", "local-sgd"}
    for r in runs:
        run = read_run(ROOT / r["log"])
        assert run.status == "completed" and run.attrs["n_workers"] == 8
        assert run.attrs["data_note"].startswith("scikit-learn digits stand-in")
    table = (out / "resnet20-quick-table.md").read_text()
    assert "stand-in (not CIFAR-10)" in table and "psgd-small" in table


def test_theory_job(slurm, tmp_path):
    if not (ROOT / "bench" / "theory.py").is_file():
        pytest.skip("bench/theory.py not present")
    out = tmp_path / "out"
    submit("theory.sbatch", out)
    assert (out / "theory-quick.json").is_file()
