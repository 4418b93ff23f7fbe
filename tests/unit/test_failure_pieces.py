"""Unit tests of the pieces behind the failure classes: truncation check, aliases, write
failure messages, integer bounds, resume flags, the early stop handlers and the guarded log."""

from __future__ import annotations

import errno
import os
import signal
import time
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from crpsgd.comm import failures, lifecycle
from crpsgd.errors import OutputError, Terminated, UsageError, describe_failure
from crpsgd.files.checkpoint import Checkpoint, write_checkpoint
from crpsgd.files.hdf5_open import hdf5_truncation
from crpsgd.files.outputs import GuardedLog, reason
from crpsgd.files.paths import check_output, same_file
from crpsgd.params.limits import EXACT_MAX, check_model_size, int_problem
from crpsgd.session.resume_check import check_resume_flags
from crpsgd.session.run_paths import check_run_paths


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_hdf5_truncation_finds_every_cut_and_no_whole_file(tmp_path, libver):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w", libver=libver) as f:
        f["x"] = np.arange(5000.0)
    whole = path.read_bytes()
    assert hdf5_truncation(path) is None
    for size in (60, 100, 2048, len(whole) // 2, len(whole) - 1):
        cut = tmp_path / f"cut{size}.h5"
        cut.write_bytes(whole[:size])
        assert hdf5_truncation(cut) == (size, len(whole))
    (tmp_path / "text").write_text("not hdf5")
    assert hdf5_truncation(tmp_path / "text") is None


def test_same_file_sees_relative_names_and_links(tmp_path, monkeypatch):
    a = tmp_path / "a"
    a.write_text("x")
    (tmp_path / "sym").symlink_to(a)
    os.link(a, tmp_path / "hard")
    monkeypatch.chdir(tmp_path)
    assert same_file("a", "./a") and same_file("sym", a) and same_file("hard", a)
    assert same_file("new", "./new")  # not existing yet: resolved paths
    assert not same_file("a", "new")


def test_reason_reduces_hdf5_text_to_the_errno():
    text = "Can't write data (file write failed: time = x, errno = 28, error message = 'No sp')"
    assert reason(OSError(text)) == f"[Errno 28] {os.strerror(28)}"
    assert reason(OSError(errno.EROFS, "ro")) == f"[Errno 30] {os.strerror(errno.EROFS)}"
    assert reason(RuntimeError("first\nsecond")) == "first"


def test_int_problem_bounds():
    assert int_problem("seed", 2**63 - 1) is None and int_problem("seed", 2**63)
    assert int_problem("T", EXACT_MAX) is None and int_problem("T", EXACT_MAX + 1)
    assert int_problem("hidden", 2**20) is None and int_problem("hidden", 2**20 + 1)
    check_model_size({"problem": "logreg"}, 2**28)
    with pytest.raises(UsageError, match="--hidden=300 on 1000000 features"):
        check_model_size({"problem": "mlp", "hidden": 300}, 1_000_000)


def test_check_output_and_aliases(tmp_path):
    check_output("--out", tmp_path / "new" / "deeper" / "o.h5")  # created later by the writer
    with pytest.raises(UsageError, match="is a directory"):
        check_output("--out", tmp_path)
    data = tmp_path / "d.svm"
    data.write_text("1 1:1\n")
    cfg = {"data": str(data), "test_data": None, "config": None, "checkpoint": str(data)}
    with pytest.raises(UsageError, match="--checkpoint=.*same file as --data"):
        check_run_paths(cfg, tmp_path / "o.h5")
    check_run_paths(cfg, tmp_path / "o.h5", active=False)  # other ranks: nothing
    resumed = {**cfg, "checkpoint": str(tmp_path / "c.h5")}
    check_run_paths(resumed, tmp_path / "o.h5", resume=str(tmp_path / "c.h5"))


def test_resume_flags_equal_to_the_checkpoint_are_not_changes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = {"out": "runs/a.h5", "T": 1000, "batch": 8}
    check_resume_flags({"resume": "c.h5", "out": "./runs/a.h5", "T": "1e3"}, config)
    with pytest.raises(UsageError, match="--T cannot be changed"):
        check_resume_flags({"resume": "c.h5", "out": "runs/a.h5", "T": "999"}, config)


def test_describe_failure():
    assert describe_failure(KeyboardInterrupt()) == "interrupted (SIGINT)"
    assert describe_failure(Terminated(signal.SIGHUP)) == "terminated by SIGHUP"
    assert Terminated(signal.SIGHUP).exit_code == 128 + signal.SIGHUP
    assert describe_failure(OutputError("--out=x: y")) == "--out=x: y"
    assert describe_failure(ValueError("v")) == "ValueError: v"


def test_a_stop_requested_before_the_run_reaches_its_communicator():
    previous = lifecycle.install_signal_handlers()
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.05)
        comm = SimpleNamespace(stop_requested=False)
        lifecycle.attach(comm)
        assert comm.stop_requested
        lifecycle.detach()
        os.kill(os.getpid(), signal.SIGINT)  # one SIGINT: a stop request, no exception
        time.sleep(0.05)
        with pytest.raises(KeyboardInterrupt):  # the second one interrupts
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
        with pytest.raises(Terminated):
            os.kill(os.getpid(), signal.SIGUSR2)
            time.sleep(0.5)
    finally:
        lifecycle.restore_signal_handlers(previous)


class _FailingLog:
    def __init__(self):
        self.calls = 0

    def add_round(self, **row):
        self.calls += 1
        raise OSError("file write failed: errno = 28, error message = 'No space left'")

    def close(self, status, *args):
        raise OSError("again")


def test_guarded_log_fails_once_and_closes_quietly():
    inner = _FailingLog()
    log = GuardedLog(inner, "run.h5")
    with pytest.raises(OutputError, match=r"--out=run.h5: cannot write the run log: \[Errno 28\]"):
        log.add_round(round=1)
    assert log.add_round(round=2) is None and inner.calls == 1  # never touched again
    assert log.close("failed: x") is False
    assert GuardedLog(SimpleNamespace(close=lambda status: None), "r.h5").close("s") is True


def test_report_failure_survives_a_failing_handler(monkeypatch):
    def handler(rank, message):
        raise OSError("the log cannot be closed either")

    fake = SimpleNamespace(is_root=True, on_own_failure=handler)
    monkeypatch.setattr(failures, "ACTIVE", [fake])
    failures.report_failure("rank 0: boom")  # must not raise


def test_checkpoint_write_failure_is_one_output_error(tmp_path):
    (tmp_path / "file").write_text("")
    ckpt = Checkpoint({}, 1, "psgd", "x.h5", 1, 1, [], {"x": np.zeros(3)})
    with pytest.raises(OutputError, match="--checkpoint=.*cannot write the checkpoint"):
        write_checkpoint(tmp_path / "file" / "c.h5", ckpt)
    assert not list(tmp_path.glob("**/*.tmp"))


def test_drain_waits_for_the_reader_of_a_piped_stderr(monkeypatch):
    """Before MPI_Abort the message must have left the pipe: the drain returns only once the
    reader (the launcher's proxy) has taken every byte, or after its timeout."""
    import threading

    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w")
    monkeypatch.setattr(lifecycle.sys, "stderr", stream)
    stream.write("crpsgd: rank 0: the one line\n")

    start = time.monotonic()
    lifecycle.drain_standard_streams(timeout=0.3)  # nobody reads: gives up after the timeout
    assert 0.25 <= time.monotonic() - start < 2

    taken = []
    reader = threading.Timer(0.2, lambda: taken.append(os.read(read_end, 4096)))
    reader.start()
    start = time.monotonic()
    lifecycle.drain_standard_streams(timeout=10)
    waited = time.monotonic() - start
    reader.join()
    assert taken == [b"crpsgd: rank 0: the one line\n"]
    assert 0.15 <= waited < 5
    stream.close()
    os.close(read_end)
