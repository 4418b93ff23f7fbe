"""``--backend torch`` (torch.distributed, gloo here): the same run under ``mpiexec -n 2`` gives
the same iterates as ``--backend mpi``, bit for bit (a round sums two floats: exact up to its
one rounding, and commutative); the log records the backend; under ``torchrun`` as well; bad
values and a failing rank end the job with one message."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from crpsgd.runlog import read_run  # noqa: E402
from tests.conftest import ROOT, run_mpi  # noqa: E402

pytestmark = pytest.mark.mpi

LOGREG = ["--data", "synthetic:n=400,d=10,seed=1", "--T", "300", "--b1", "4", "--rho", "1.5"]
MLP = [
    *("--problem", "torch", "--model", "tests.torch_models:mlp_five_features"),
    *("--data", "synthetic:n=200,d=5,seed=2", "--algo", "psgd", "--batch", "8"),
    *("--T", "64", "--gamma", "0.2", "--momentum", "0.9", "--eval-rows", "50"),
]


def _run(tmp_path: Path, name: str, flags: list[str], backend: str, **kw):
    out = tmp_path / f"{name}-{backend}.h5"
    args = ["-m", "crpsgd", "run", *flags, "--backend", backend, "--out", str(out), "--quiet"]
    proc = run_mpi(2, args, timeout=300, **kw)
    return proc, out


@pytest.mark.parametrize(("name", "flags"), [("logreg", LOGREG), ("mlp", MLP)])
def test_torch_backend_gives_the_iterates_of_mpi_bit_for_bit(tmp_path, name, flags):
    runs = {}
    for backend in ("mpi", "torch"):
        proc, out = _run(tmp_path, name, flags, backend)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[backend] = read_run(out)
    mpi, torch_run = runs["mpi"], runs["torch"]
    assert mpi.x is not None and np.any(mpi.x != 0)
    np.testing.assert_array_equal(torch_run.x, mpi.x)
    for column in ("round", "batch", "sfo_total"):
        np.testing.assert_array_equal(torch_run.rounds[column], mpi.rounds[column])
    np.testing.assert_array_equal(torch_run.eval["objective"], mpi.eval["objective"])
    assert len(mpi.rounds["round"]) > 2
    assert mpi.attrs["backend"] == "mpi" and mpi.config["backend"] == "mpi"
    assert torch_run.attrs["backend"] == "torch.distributed (gloo)"
    assert torch_run.config["backend"] == "torch" and torch_run.attrs["n_workers"] == 2


def test_info_shows_the_backend(tmp_path):
    proc, out = _run(tmp_path, "info", [*LOGREG, "--T", "40"], "torch")
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = subprocess.run(
        [sys.executable, "-m", "crpsgd", "info", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert info.returncode == 0, info.stderr
    assert "backend          torch.distributed (gloo)" in info.stdout


def test_a_bad_backend_is_one_message_and_exit_2(tmp_path):
    proc, out = _run(tmp_path, "bad", LOGREG, "nccl")
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("crpsgd:")]
    assert lines == ["crpsgd: error: --backend='nccl': must be one of mpi, torch"], proc.stderr
    assert not out.exists()


def test_a_failing_rank_ends_a_torch_backend_job_with_one_message(tmp_path):
    flags = ["--algo", "psgd", "--batch", "4", "--T", "4000", "--data", "synthetic:n=4000,d=10"]
    start = time.monotonic()
    proc, out = _run(tmp_path, "fail", flags, "torch", env={"CRPSGD_TEST_FAIL_AT": "1:round:5"})
    assert proc.returncode != 0 and time.monotonic() - start < 120
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("crpsgd:")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("crpsgd: rank 1: RuntimeError: injected failure before round 5")
    assert "Traceback" not in proc.stderr
    assert read_run(out).status.startswith("failed: rank 1: RuntimeError: injected failure")


def _torchrun(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "torchrun"
    if not exe.exists() and shutil.which("torchrun") is None:
        pytest.skip("torchrun is not installed")
    exe = exe if exe.exists() else Path(shutil.which("torchrun"))
    cmd = [str(exe), "--standalone", "--nproc-per-node", "2", "-m", "crpsgd", "run", *args]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def test_torchrun_gives_the_same_iterates_and_refuses_the_mpi_backend(tmp_path):
    proc, mpi_out = _run(tmp_path, "ref", LOGREG, "mpi")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "torchrun.h5"
    proc = _torchrun([*LOGREG, "--backend", "torch", "--out", str(out), "--quiet"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = read_run(out)
    np.testing.assert_array_equal(run.x, read_run(mpi_out).x)
    assert run.attrs["n_workers"] == 2 and run.attrs["backend"] == "torch.distributed (gloo)"

    refused = _torchrun([*LOGREG, "--out", str(tmp_path / "refused.h5"), "--quiet"])
    assert refused.returncode != 0
    lines = [ln for ln in refused.stderr.splitlines() if ln.startswith("crpsgd:")]
    assert len(lines) == 1 and "--backend=mpi: this job was started by torchrun" in lines[0]
    assert not (tmp_path / "refused.h5").exists()


def test_under_torchrun_a_failing_rank_ends_the_job(tmp_path):
    flags = ["--algo", "psgd", "--batch", "4", "--T", "4000", "--data", "synthetic:n=4000,d=10"]
    start = time.monotonic()
    proc = _torchrun(
        [*flags, "--backend", "torch", "--out", str(tmp_path / "f.h5"), "--quiet"],
        env={"CRPSGD_TEST_FAIL_AT": "1:round:5"},
    )
    assert proc.returncode != 0 and time.monotonic() - start < 120
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("crpsgd:")]
    assert lines == [
        "crpsgd: rank 1: RuntimeError: injected failure before round 5 (CRPSGD_TEST_FAIL_AT)"
    ], proc.stderr[-3000:]
    # rank 0 lost its peer (torchrun has no MPI to abort the job): the log says so
    status = read_run(tmp_path / "f.h5").status
    assert status.startswith("failed: rank 0: another rank ended during"), status


def test_a_stopped_torch_backend_run_resumes_to_the_same_iterate(tmp_path):
    proc, whole = _run(tmp_path, "whole", LOGREG, "torch")
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc, out = _run(tmp_path, "cut", LOGREG, "torch", env={"CRPSGD_TEST_STOP_AT": "1:round:3"})
    assert proc.returncode == 75, proc.stderr[-3000:]
    ckpt = out.with_suffix(".ckpt.h5")
    assert ckpt.exists()
    resumed = run_mpi(2, ["-m", "crpsgd", "run", "--resume", str(ckpt), "--quiet"], timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    run = read_run(out)
    np.testing.assert_array_equal(run.x, read_run(whole).x)
    assert run.attrs["backend"] == "torch.distributed (gloo)"
