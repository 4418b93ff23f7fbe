"""The failure classes of issue 13, each with several instances: the job ends within a
stated time, with the documented exit status and one message, no traceback, no input
changed, and the log absent (bad input) or readable with every flushed row (failures)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from crpsgd.files.checkpoint import Checkpoint, read_checkpoint, write_checkpoint
from crpsgd.runlog import read_run
from tests.conftest import ROOT, mpiexec, run_cli, run_mpi, wait_for_rounds
from tests.failure_tools import (
    THROTTLE,
    digests,
    finish,
    in_small_fs,
    log_keeps_its_rows,
    namespace_reason,
    one_message,
    rank_pids,
    start_job,
    wait_for_handler,
)

pytestmark = [pytest.mark.mpi, pytest.mark.slow]

LONG = ["--algo", "psgd", "--batch", "1", "--T", "100000000", "--quiet"]
DATA = "synthetic:n=2000,d=20"


@pytest.fixture
def svm(tmp_path):
    path = tmp_path / "train.svm"
    path.write_text("".join(f"{1 if i % 3 else -1} 1:{i % 7} 2:{i % 5 / 4}\n" for i in range(400)))
    return path


# ---------------------------------------------------------------- class 1: outputs fail


@pytest.fixture(scope="module")
def small_fs():
    reason = namespace_reason()
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize(
    ("ranks", "what"),
    [(2, "log"), (1, "log"), (2, "checkpoint")],
)
def test_class1_full_disk_ends_every_rank_with_one_message(tmp_path, small_fs, ranks, what):
    """A full disk under the log or the checkpoint: every rank ends within 60 s, exit 1,
    one message naming the argument, the log readable with every flushed row."""
    mount = tmp_path / "small"
    if what == "log":
        out, extra, size, fill = mount / "run.h5", [], 400, 0
    else:  # the checkpoint fills a disk that has room for the empty probe file only
        out, extra, size, fill = tmp_path / "run.h5", ["--checkpoint", str(mount / "c.h5")], 64, 60
        extra += ["--checkpoint-every", "20", "--data", "synthetic:n=2000,d=2000"]
    launcher = mpiexec()
    if launcher is None:
        pytest.skip("no MPI launcher")
    run = [sys.executable, "-m", "crpsgd", "run", *LONG, "--data", DATA, "--out", str(out)]
    command = run + extra if ranks == 1 else [*launcher, "-n", str(ranks), *run, *extra]
    start = time.monotonic()
    proc = subprocess.run(
        in_small_fs(mount, size, command, fill_kib=fill),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **THROTTLE},
    )
    assert time.monotonic() - start < 90
    assert proc.returncode == 1, proc.stderr
    flag = "--out" if what == "log" else "--checkpoint"
    line = one_message(proc.stderr, f"rank 0: {flag}=")
    assert "No space left on device" in line
    if what == "log":  # the namespace is gone with its tmpfs: nothing left to read
        return
    assert log_keeps_its_rows(out) >= 20
    assert read_run(out).status.startswith("failed: rank 0: --checkpoint=")


def test_class1_checkpoint_directory_replaced_under_the_run(tmp_path):
    """The checkpoint's directory removed (and a file put in its place) during the run."""
    place = tmp_path / "ckpt"
    out = tmp_path / "run.h5"
    job, _ = start_job(
        2,
        [*LONG, "--data", DATA, "--out", str(out), "--checkpoint", str(place / "c.h5")]
        + ["--checkpoint-every", "50"],
        env={"CRPSGD_TEST_ROUND_DELAY": "0.002"},
    )
    assert wait_for_rounds(out, 10) >= 10
    shutil.rmtree(place, ignore_errors=True)
    place.write_text("not a directory")
    status, err, took = finish(job, 60)
    assert status == 1 and took < 30, err
    one_message(err, "rank 0: --checkpoint=")
    assert log_keeps_its_rows(out) >= 10
    assert read_run(out).status.startswith("failed: rank 0: --checkpoint=")


# ---------------------------------------------------------------- class 2: signals, any rank


@pytest.mark.parametrize(
    ("sig", "rank", "times", "status", "expected"),
    [
        (signal.SIGINT, 1, 1, 75, "stopped on request"),
        (signal.SIGINT, 0, 1, 75, "stopped on request"),
        (signal.SIGINT, -1, 1, 75, "stopped on request"),  # Ctrl-C to mpiexec: it forwards
        (signal.SIGINT, 1, 2, 130, "rank 1: interrupted (SIGINT)"),
        (signal.SIGHUP, 1, 1, 129, "rank 1: terminated by SIGHUP"),
        (signal.SIGUSR2, 0, 1, 140, "rank 0: terminated by SIGUSR2"),
        (signal.SIGQUIT, 1, 1, 131, "rank 1: terminated by SIGQUIT"),
    ],
)
def test_class2_signal_to_one_rank_ends_the_whole_job(
    tmp_path, svm, sig, rank, times, status, expected
):
    """Within 30 s of the signal every rank has ended: a stop (checkpoint, 75) or an abort
    naming the rank and the signal (128 + n), with the log recording it; the data file is
    unchanged."""
    out = tmp_path / "run.h5"
    before = digests(svm)
    # a second SIGINT must come before the round that carries the first one ends: slow rounds
    delay, rows = ("0.002", 20) if times == 1 else ("0.5", 2)
    job, marker = start_job(
        2, [*LONG, "--data", str(svm), "--out", str(out)], env={"CRPSGD_TEST_ROUND_DELAY": delay}
    )
    pids = rank_pids(marker, 2)
    assert wait_for_rounds(out, rows) >= rows
    for _ in range(times):
        os.kill(job.pid if rank < 0 else pids[rank], sig)
        time.sleep(0.05)
    code, err, took = finish(job, 60)
    assert code == status and took < 30, err
    one_message(err, expected)
    log_keeps_its_rows(out)
    log = read_run(out)
    if status == 75:
        assert log.status.startswith("preempted") and (tmp_path / "run.ckpt.h5").exists()
    else:
        assert log.status == f"failed: {expected}", log.status
    assert digests(svm) == before


@pytest.mark.parametrize(("sig", "rank"), [(signal.SIGKILL, 1), (signal.SIGKILL, 0)])
def test_class2_kill_during_setup_ends_the_whole_job(tmp_path, sig, rank):
    """A rank killed during set-up (before the failure watch exists): the launcher ends the
    job within 30 s; nothing was logged."""
    out = tmp_path / "run.h5"
    job, marker = start_job(
        2, [*LONG, "--data", DATA, "--out", str(out)], env={"CRPSGD_TEST_SETUP_DELAY": "20"}
    )
    pids = rank_pids(marker, 2)
    time.sleep(1.0)
    os.kill(pids[rank], sig)
    code, _, took = finish(job, 60)
    assert code != 0 and took < 30
    assert not out.exists()


def test_class2_a_rank_that_never_starts_ends_the_job(tmp_path):
    """A rank that exits before MPI starts: the other ranks' start-up guard ends them."""
    out = tmp_path / "run.h5"
    job, _ = start_job(
        2,
        [*LONG, "--data", DATA, "--out", str(out)],
        env={"CRPSGD_TEST_EXIT_BEFORE_MPI": "1", "CRPSGD_START_TIMEOUT": "5"},
    )
    code, err, took = finish(job, 60)
    assert code != 0 and took < 30, err
    one_message(err, "rank 0: MPI did not start within 5 s")
    assert not out.exists()


# ---------------------------------------------------------------- class 3: aliases


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--data", "{svm}", "--checkpoint", "{svm}"],
            "--checkpoint={svm}: is the same file as --data",
        ),
        (
            ["--data", "{svm}", "--out", "{svm}", "--overwrite"],
            "--out={svm}: is the same file as --data",
        ),
        (["--data", "{svm}", "--out", "{link}", "--overwrite"], "is the same file as --data"),
        (["--data", "{svm}", "--out", "{hard}", "--overwrite"], "is the same file as --data"),
        (
            ["--data", "{svm}", "--test-data", "{svm}", "--checkpoint", "{rel}"],
            "same file as --data",
        ),
        (["--checkpoint", "{out}"], "--checkpoint={out}: is the same file as --out"),
        (["--checkpoint", "{d}/./o.h5"], "is the same file as --out"),
        (["--config", "{toml}", "--out", "{toml}", "--overwrite"], "is the same file as --config"),
    ],
)
def test_class3_an_output_naming_an_input_or_output_is_refused(tmp_path, svm, args, expected):
    (tmp_path / "link.svm").symlink_to(svm)
    os.link(svm, tmp_path / "hard.svm")
    (tmp_path / "c.toml").write_text("T = 50\n")
    values = {
        "svm": svm,
        "link": tmp_path / "link.svm",
        "hard": tmp_path / "hard.svm",
        "rel": os.path.relpath(svm, ROOT),
        "out": tmp_path / "o.h5",
        "d": tmp_path,
        "toml": tmp_path / "c.toml",
    }
    args = [a.format(**values) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "o.h5")]
    if "--data" not in args:
        args += ["--data", DATA]
    before = digests(svm, tmp_path / "c.toml")
    proc = run_mpi(2, ["-m", "crpsgd", "run", "--T", "50", "--quiet", *args], timeout=60)
    assert proc.returncode == 2, proc.stderr
    one_message(proc.stderr, expected.format(**values))
    assert digests(svm, tmp_path / "c.toml") == before
    assert not (tmp_path / "o.h5").exists()


# ---------------------------------------------------------------- class 5: resume checks


@pytest.fixture
def stopped(tmp_path, svm):
    """A run on ``svm`` stopped after round 3 (log, checkpoint, data)."""
    out = tmp_path / "run.h5"
    proc = run_mpi(
        2,
        ["-m", "crpsgd", "run", "--algo", "psgd", "--batch", "2", "--T", "400", "--quiet"]
        + ["--data", str(svm), "--out", str(out)],
        env={"CRPSGD_TEST_STOP_AT": "0:round:3"},
    )
    assert proc.returncode == 75, proc.stderr
    return out, tmp_path / "run.ckpt.h5", svm


def _resume(ckpt, *extra):
    return run_mpi(2, ["-m", "crpsgd", "run", "--resume", str(ckpt), *extra], timeout=60)


@pytest.mark.parametrize("change", ["log replaced", "data changed", "log truncated", "log cut"])
def test_class5_resume_refuses_a_changed_log_or_data(stopped, change):
    out, ckpt, svm = stopped
    if change == "log replaced":  # another run, same --out
        other = run_mpi(
            2,
            ["-m", "crpsgd", "run", "--algo", "cr-psgd", "--T", "400", "--quiet"]
            + ["--data", str(svm), "--out", str(out), "--overwrite", "--checkpoint", f"{out}.x"],
        )
        assert other.returncode == 0, other.stderr
        expected = "belongs to another run"
    elif change == "data changed":
        with open(svm, "a") as f:
            f.write("1 1:2\n")
        expected = f"the --data file {svm} changed since the checkpoint"
    elif change == "log truncated":
        out.write_bytes(out.read_bytes()[:3000])
        expected = "is truncated"
    else:  # an older copy of the log: the rows up to the checkpoint are not all there
        full = read_run(out)
        assert len(full.rounds["round"]) == 3
        with __import__("h5py").File(out, "r+", locking=False) as f:
            for name in f["rounds"]:
                f["rounds"][name].resize((1,))
        expected = "holds 1 of the 3 rounds"
    before = digests(out, ckpt, svm)
    proc = _resume(ckpt)
    assert proc.returncode == 2, proc.stderr
    one_message(proc.stderr, expected)
    assert digests(out, ckpt, svm) == before


def test_class5_resume_with_the_same_flags_continues(stopped):
    out, ckpt, svm = stopped
    proc = _resume(ckpt, "--out", str(out), "--data", f"{svm.parent}/./{svm.name}")
    assert proc.returncode == 0, proc.stderr
    assert read_run(out).status == "completed"


# ---------------------------------------------------------------- class 6: stop requests


@pytest.mark.parametrize(("sig", "rank"), [(signal.SIGUSR1, 1), (signal.SIGTERM, 0)])
def test_class6_stop_during_setup_checkpoints_after_the_first_round(tmp_path, sig, rank):
    out = tmp_path / "run.h5"
    job, marker = start_job(
        2, [*LONG, "--data", DATA, "--out", str(out)], env={"CRPSGD_TEST_SETUP_DELAY": "3"}
    )
    pids = rank_pids(marker, 2)
    wait_for_handler(pids[rank], sig)
    os.kill(pids[rank], sig)
    code, err, took = finish(job, 90)
    assert code == 75, err
    one_message(err, "stopped on request after round 1")
    assert read_checkpoint(tmp_path / "run.ckpt.h5").rounds == 1
    assert log_keeps_its_rows(out) == 1


@pytest.mark.parametrize("where", ["directory", "device", "missing place", "read-only"])
def test_class6_unwritable_checkpoint_is_refused_at_the_start(tmp_path, where):
    if where == "directory":
        ckpt, expected = tmp_path, "is a directory"
    elif where == "device":
        ckpt, expected = "/dev/null", "not a regular file"
    elif where == "missing place":
        (tmp_path / "file").write_text("")
        ckpt, expected = tmp_path / "file" / "c.h5", "Not a directory"
    else:
        reason = namespace_reason()
        if reason:
            pytest.skip(reason)
        ckpt, expected = tmp_path / "ro" / "c.h5", "Read-only file system"
    out = tmp_path / "o.h5"
    command = [sys.executable, "-m", "crpsgd", "run", "--T", "50", "--quiet", "--data", DATA]
    command += ["--out", str(out), "--checkpoint", str(ckpt)]
    if where == "read-only":
        command = in_small_fs(tmp_path / "ro", 64, command, ro=True)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    one_message(proc.stderr, f"--checkpoint={ckpt}")
    assert expected in proc.stderr
    assert not out.exists()


# ---------------------------------------------------------------- class 7: bad input


DEEP = "T = " + "[" * 100_000 + "]" * 100_000 + "\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--seed", str(2**64)], "--seed='18446744073709551616': must be < 2^63"),
        (["--algo", "local-sgd", "--period", "1e30"], "--period='1e30': must be <= 2^53"),
        (["--problem", "mlp", "--gamma", "0.1", "--hidden", "1e8"], "--hidden='1e8': must be"),
        (["--n-features", "1e12"], "--n-features='1e12': must be <= 268435456"),
        (["--T", "1e300"], "--T='1e300': must be <="),
        (
            ["--problem", "mlp", "--gamma", "0.1", "--hidden", "1000000", "--n-features", "400"],
            "the model would have",
        ),
        (["--config", "{deep}"], "deep.toml: TOML values nested too deeply"),
        (["--config", "/dev/zero"], "--config=/dev/zero: not a regular file"),
        (["--data", "/dev/zero"], "--data=/dev/zero: not a regular file"),
        (["--test-data", "/dev/zero"], "--test-data=/dev/zero: not a regular file"),
        (["--out", "/dev/null", "--overwrite"], "--out=/dev/null: not a regular file"),
        (["--out", "{d}"], "is a directory"),
        (["--resume", "{cut}"], "truncated checkpoint"),
        (["--resume", "/dev/zero"], "not a regular file"),
    ],
)
def test_class7_bad_input_is_exit_2_with_no_log(tmp_path, args, expected):
    (tmp_path / "deep.toml").write_text(DEEP)
    cut = tmp_path / "cut.ckpt.h5"
    write_checkpoint(cut, Checkpoint({}, 1, "psgd", "x.h5", 1, 1, [], {"x": np.zeros(500)}))
    cut.write_bytes(cut.read_bytes()[:3000])
    args = [a.format(deep=tmp_path / "deep.toml", d=tmp_path, cut=cut) for a in args]
    if "--resume" in args:
        base = []
    else:
        base = ["--T", "100", "--data", DATA] + ([] if "--out" in args else ["--out", "{o}"])
    base = [a.format(o=tmp_path / "o.h5") for a in base]
    before = digests(tmp_path / "deep.toml", cut)
    start = time.monotonic()
    proc = run_cli(["run", *base, "--quiet", *args], timeout=60)
    assert time.monotonic() - start < 30
    assert proc.returncode == 2, proc.stderr
    line = one_message(proc.stderr, "crpsgd: error:")
    assert expected.replace("2^53", str(2**53)) in line, line
    assert not (tmp_path / "o.h5").exists()
    assert digests(tmp_path / "deep.toml", cut) == before


def test_class7_bad_input_under_mpi(tmp_path):
    proc = run_mpi(
        2,
        ["-m", "crpsgd", "run", "--data", "/dev/zero", "--out", str(tmp_path / "o.h5")],
        timeout=60,
    )
    assert proc.returncode == 2
    one_message(proc.stderr, "--data=/dev/zero: not a regular file")
    assert not (tmp_path / "o.h5").exists()


# ---------------------------------------------------------------- class 8: messages


@pytest.mark.parametrize("ranks", [1, 2])
def test_class8_divergence_is_one_message_without_numpy_warnings(tmp_path, ranks):
    out = tmp_path / "run.h5"
    args = ["-m", "crpsgd", "run", "--algo", "psgd", "--batch", "2", "--T", "2000", "--quiet"]
    args += ["--data", "synthetic:n=500,d=5,scale=30", "--lam", "1e-3", "--gamma", "1e300"]
    args += ["--out", str(out)]
    proc = run_mpi(ranks, args, timeout=60)
    assert proc.returncode == 3, proc.stderr
    one_message(proc.stderr, "crpsgd: error: diverged at round")
    log_keeps_its_rows(out)


@pytest.mark.parametrize(
    ("out", "expected"),
    [
        ("/proc/crpsgd.h5", "--out=/proc/crpsgd.h5: cannot write in /proc"),
        ("{d}/file/run.h5", "--out={d}/file/run.h5:"),
    ],
)
def test_class8_out_failures_name_out(tmp_path, out, expected):
    (tmp_path / "file").write_text("")
    out = out.format(d=tmp_path)
    proc = run_cli(["run", "--T", "50", "--data", DATA, "--quiet", "--out", out], timeout=60)
    assert proc.returncode == 2, proc.stderr
    one_message(proc.stderr, expected.format(d=tmp_path))
