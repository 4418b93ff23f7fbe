"""The jobs/ scripts outside SLURM: an experiment runs with the N its script and title say
(its ``#SBATCH --ntasks``), with fewer ranks only when told (``CRPSGD_FEWER_RANKS=1``), and
then says so and titles its tables and figures with the N that ran. The launcher is a stand-in
that only records its arguments: nothing runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, bench_module

SCRIPTS = [
    "logreg_n10.sbatch",
    "logreg_synthetic_n10.sbatch",
    "catalyst_n8.sbatch",
    "resnet20_cifar10_n8.sbatch",
]


@pytest.fixture
def fake_bin(tmp_path) -> Path:
    """``python`` and ``mpirun`` stand-ins; ``mpirun`` writes its arguments to launch.txt."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "mpirun").write_text(
        f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> {tmp_path / 'launch.txt'}\n"
    )
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return bin_dir


def _job(script: str, fake_bin: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "CRPSGD_"))}
    env.update(
        CRPSGD_LAUNCH="mpirun",
        CRPSGD_PYTHON=str(fake_bin / "python"),
        CRPSGD_OUT=str(fake_bin.parent / "out"),
        CRPSGD_QUICK="1",
        **extra,
    )
    return subprocess.run(
        ["bash", f"jobs/{script}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def _want(script: str) -> int:
    text = (ROOT / "jobs" / script).read_text()
    return int(text.split("#SBATCH --ntasks=")[1].split()[0])


@pytest.mark.parametrize("script", SCRIPTS)
def test_outside_slurm_the_script_runs_with_its_own_ranks(script, fake_bin):
    """Seen failing before: outside SLURM every script ran with N = 1."""
    proc = _job(script, fake_bin)
    assert proc.returncode == 0, proc.stderr
    launch = (fake_bin.parent / "launch.txt").read_text().split()
    assert launch[:2] == ["-n", str(_want(script))]


@pytest.mark.parametrize("script", SCRIPTS)
def test_fewer_ranks_are_refused_unless_told(script, fake_bin):
    want = _want(script)
    proc = _job(script, fake_bin, CRPSGD_NTASKS="2")
    assert proc.returncode == 2 and not (fake_bin.parent / "launch.txt").exists()
    assert f"N = {want}" in proc.stderr and "CRPSGD_FEWER_RANKS=1" in proc.stderr
    assert proc.stderr.count("\n") == 1
    told = _job(script, fake_bin, CRPSGD_NTASKS="2", CRPSGD_FEWER_RANKS="1")
    assert told.returncode == 0, told.stderr
    assert f"N = 2 ranks, fewer than the script's N = {want}" in told.stdout
    assert (fake_bin.parent / "launch.txt").read_text().split()[:2] == ["-n", "2"]


def test_titles_say_the_ranks_that_ran():
    definition = bench_module("runner.definition")
    title = "l2 logistic regression, a9a, lambda = 1e-4, N = 10"
    assert (
        definition.ranks_in_title(title, 2) == "l2 logistic regression, a9a, lambda = 1e-4, N = 2"
    )
    assert definition.ranks_in_title("no ranks named", 3) == "no ranks named"
