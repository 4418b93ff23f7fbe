"""jobs/resumable_run.sbatch without SLURM (issue 22, class 15): the checkpoint it looks for
is the one crpsgd writes, a requeue before the first checkpoint starts afresh, and
CRPSGD_RUN_ARGS keeps quoted words whole. The launcher is replaced by a stand-in that
records the command it was given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crpsgd.cli.job_args import checkpoint_for, main, split_words
from crpsgd.files.checkpoint import checkpoint_path_for
from tests.conftest import ROOT

SCRIPT = ROOT / "jobs" / "resumable_run.sbatch"


@pytest.mark.parametrize("log", ["runs/run.h5", "runs/run.hdf5", "a.b/run", "x.h5.h5"])
def test_checkpoint_name_is_crpsgds(log):
    assert checkpoint_for(log, []) == checkpoint_path_for(log)
    assert checkpoint_for(log, ["--checkpoint", "c.h5"]) == Path("c.h5")
    assert checkpoint_for(log, ["--T", "5", "--checkpoint=d/c.h5"]) == Path("d/c.h5")


def test_split_keeps_quoted_words_and_expands_nothing(capsys):
    text = "--data 'my data/a 9a' --title \"a b\" --x $HOME `id` --y a\\ b"
    assert split_words(text) == [
        "--data", "my data/a 9a", "--title", "a b", "--x", "$HOME", "`id`", "--y", "a b",
    ]  # fmt: skip
    assert main(["split", "--a 'open"]) == 2
    assert "No closing quotation" in capsys.readouterr().err


@pytest.fixture
def job(tmp_path):
    """Run the script with a launcher that records its command; returns (run, out dir)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    record = tmp_path / "launched"
    launcher = bin_dir / "mpirun"
    launcher.write_text(f'#!/bin/bash\nprintf \'%s\\0\' "$@" > "{record}"\n')
    for exe in (python, launcher):
        exe.chmod(0o755)
    out = tmp_path / "out"

    def run(env: dict[str, str]) -> list[str]:
        record.unlink(missing_ok=True)
        full = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SLURM_")},
            "CRPSGD_PYTHON": str(python),
            "CRPSGD_LAUNCH": "mpirun",
            "CRPSGD_OUT": str(out),
            "CRPSGD_NTASKS": "1",  # outside SLURM the script would start its own --ntasks
            **env,
        }
        proc = subprocess.run(
            ["bash", str(SCRIPT)], cwd=ROOT, env=full, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        words = record.read_bytes().split(b"\0")[:-1]
        command = [w.decode() for w in words]
        assert command[:5] == ["-n", "1", str(python), "-m", "crpsgd"]
        return command[5:]

    return run, out


def test_first_start_passes_quoted_run_args_whole(job, tmp_path):
    run, out = job
    args = run({"CRPSGD_RUN_ARGS": "--data 'synthetic:n=20,d=3' --title 'two words' --T 50"})
    assert args == [
        "run", "--out", str(out / "run.h5"), "--checkpoint-every", "1000",
        "--data", "synthetic:n=20,d=3", "--title", "two words", "--T", "50",
    ]  # fmt: skip


def test_requeue_resumes_from_the_stem_checkpoint_of_an_hdf5_log(job, tmp_path):
    run, out = job
    log = tmp_path / "logs" / "run.hdf5"
    log.parent.mkdir()
    log.write_bytes(b"")
    (tmp_path / "logs" / "run.ckpt.h5").write_bytes(b"")
    args = run({"CRPSGD_LOG": str(log), "SLURM_RESTART_COUNT": "1"})
    assert args == ["run", "--resume", str(tmp_path / "logs" / "run.ckpt.h5"), "--quiet"]


def test_requeue_before_the_first_checkpoint_starts_afresh(job, tmp_path):
    run, out = job
    out.mkdir()
    (out / "run.h5").write_bytes(b"")  # the failed first start's log
    args = run({"CRPSGD_RUN_ARGS": "--T 50", "SLURM_RESTART_COUNT": "1"})
    assert args == [
        "run", "--out", str(out / "run.h5"), "--checkpoint-every", "1000", "--T", "50",
        "--overwrite",
    ]  # fmt: skip
    # the first start never replaces an existing log (crpsgd refuses it: file exists)
    assert "--overwrite" not in run({"CRPSGD_RUN_ARGS": "--T 50"})
