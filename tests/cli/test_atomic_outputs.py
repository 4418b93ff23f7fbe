"""Every file crpsgd writes goes to a temporary name beside it and is renamed; never through
a link, into a device, a FIFO or a directory (issue 22, classes 2, 6, 7, 8)."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from crpsgd.analysis import export as export_module
from crpsgd.cli.app import main
from crpsgd.errors import OutputError, UsageError
from crpsgd.files.atomic_write import AtomicFiles, check_name_fits, refuse_unsafe_target
from crpsgd.files.checkpoint import Checkpoint, write_checkpoint
from crpsgd.files.paths import check_output
from crpsgd.runlog import RunLog, read_run
from tests.conftest import ROOT
from tests.failure_tools import crpsgd_within, digest, one_message

SVM = "1 1:0.5 3:1\n-1 2:1\n1 1:1 4:0.25\n"


@pytest.fixture
def svm(tmp_path) -> Path:
    path = tmp_path / "in.svm"
    path.write_text(SVM)
    return path


def _targets(tmp_path: Path) -> dict[str, Path]:
    """A FIFO, a directory and a symbolic link to a file, each at a name to write."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    link = tmp_path / "link"
    link.symlink_to(victim)
    return {"fifo": fifo, "directory": folder, "link": link}


def _unchanged(tmp_path: Path, kind: str, path: Path) -> None:
    mode = os.lstat(path).st_mode
    check = {"fifo": stat.S_ISFIFO, "directory": stat.S_ISDIR, "link": stat.S_ISLNK}[kind]
    assert check(mode)
    assert (tmp_path / "victim").read_text() == "keep me\n"
    assert not [p for p in tmp_path.rglob("*.tmp")]


EXPECTED = {
    "fifo": "not a regular file",
    "directory": "is a directory",
    "link": "is a symbolic link",
}


# ----------------------------------------------------------------------- the shared rule


def test_a_device_is_refused_before_anything_is_written():
    # read-only: lstat of a character device, no write is attempted on it
    with pytest.raises(UsageError, match="/dev/null: not a regular file"):
        refuse_unsafe_target("/dev/null", "/dev/null")
    with pytest.raises(UsageError, match="/dev/null: not a regular file"):
        AtomicFiles().temp("/dev/null", "/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_fifo_directory_and_link_are_refused(tmp_path, kind):
    path = _targets(tmp_path)[kind]
    with pytest.raises(UsageError, match=f"{path}: {EXPECTED[kind]}"):
        with AtomicFiles() as files:
            files.temp(path, str(path)).write_text("new")
    _unchanged(tmp_path, kind, path)


def test_a_group_is_renamed_only_when_every_file_is_complete(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("old\n")
    with pytest.raises(UsageError, match=r"b.csv: cannot write: \[Errno 28\]"):
        with AtomicFiles() as files:
            files.temp(a, str(a)).write_text("new\n")
            files.temp(b, str(b))
            raise OSError(errno.ENOSPC, "No space left on device")
    assert a.read_text() == "old\n" and not b.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]
    with AtomicFiles() as files:
        files.temp(a, str(a)).write_text("new\n")
        files.temp(b, str(b)).write_text("b\n")
    assert a.read_text() == "new\n" and b.read_text() == "b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]


def test_a_name_too_long_for_the_temporary_is_refused(tmp_path):
    check_name_fits(tmp_path / ("a" * 238 + ".h5"), "x")  # 241 + 14 = 255 bytes
    with pytest.raises(UsageError, match="more than the 255 this file system allows"):
        check_name_fits(tmp_path / ("a" * 239 + ".h5"), "--checkpoint=x")
    with pytest.raises(UsageError, match="--checkpoint=.*: the file name is 255 bytes"):
        check_output("--checkpoint", tmp_path / ("a" * 252 + ".h5"))


def test_run_outputs_refuse_a_link(tmp_path):
    target = tmp_path / "real.h5"
    target.write_bytes(b"")
    (tmp_path / "link.h5").symlink_to(target)
    with pytest.raises(UsageError, match="--out=.*link.h5: is a symbolic link"):
        check_output("--out", tmp_path / "link.h5")


# ----------------------------------------------------------------------- class 2: convert


def test_convert_refuses_dev_zero_at_once_and_writes_nothing(tmp_path):
    out = tmp_path / "c.h5"
    proc = crpsgd_within(["convert", "/dev/zero", str(out)])
    assert proc.returncode == 2, proc.stderr
    one_message(proc.stderr, "IN=/dev/zero: not a regular file")
    assert list(tmp_path.iterdir()) == []


def test_convert_refuses_a_fifo_as_input(tmp_path):
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    proc = crpsgd_within(["convert", str(fifo), str(tmp_path / "c.h5")])
    assert proc.returncode == 2, proc.stderr
    one_message(proc.stderr, f"IN={fifo}: not a regular file")
    assert not (tmp_path / "c.h5").exists()


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_convert_never_writes_into_a_fifo_directory_or_link(tmp_path, svm, kind, capsys):
    path = _targets(tmp_path)[kind]
    assert main(["convert", str(svm), str(path), "--overwrite"]) == 2
    assert EXPECTED[kind] in capsys.readouterr().err
    _unchanged(tmp_path, kind, path)


# ------------------------------------------------------------ class 7: digits-cifar10


def test_digits_cifar10_never_writes_through_links(tmp_path, capsys):
    pytest.importorskip("sklearn")
    real = tmp_path / "real-cifar"
    real.mkdir()
    names = [*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"]
    rng = np.random.default_rng(0)
    for name in names:
        (real / name).write_bytes(rng.integers(0, 10, 3073 * 2, dtype=np.uint8).tobytes())
        os.chmod(real / name, 0o644)
    before = {name: digest(real / name) for name in names}
    linked = tmp_path / "digits"
    linked.mkdir()
    for name in names:
        (linked / name).symlink_to(real / name)
    assert main(["digits-cifar10", str(linked), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a symbolic link" in err, err
    assert {name: digest(real / name) for name in names} == before
    assert all((linked / name).is_symlink() for name in names)
    assert not (linked / "SOURCE.txt").exists() and not list(linked.glob(".*"))


# --------------------------------------------------------------------- class 8: export


@pytest.fixture
def log(tmp_path) -> Path:
    path = tmp_path / "run.h5"
    log = RunLog(path, {"algorithm": "psgd", "config": "{}"})
    for t in range(1, 4):
        log.add_round(
            round=t, batch=1, sfo_per_worker=t, sfo_total=t, step_size=0.1, wall_s=0.0,
            compute_s=0.0, comm_s=0.0,
        )  # fmt: skip
    log.close("completed", np.zeros(2), {"objective": 1.0})
    return path


def test_export_refuses_existing_files_without_overwrite(tmp_path, log, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "rounds.csv").write_text("mine\n")
    assert main(["export", str(log), "--to", "csv", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"would replace {out / 'rounds.csv'}" in err and "--overwrite" in err, err
    assert (out / "rounds.csv").read_text() == "mine\n"
    assert sorted(p.name for p in out.iterdir()) == ["rounds.csv"]
    assert main(["export", str(log), "--to", "csv", str(out), "--overwrite"]) == 0
    assert "sfo_per_worker" in (out / "rounds.csv").read_text().splitlines()[0]


def test_export_into_a_missing_folder_creates_it(tmp_path, log):
    out = tmp_path / "a" / "b"
    assert main(["export", str(log), "--to", "json", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "attributes.json", "eval.json", "outer.json", "result.json", "rounds.json",
    ]  # fmt: skip


def test_export_on_a_full_disk_leaves_no_partial_file(tmp_path, log, monkeypatch, capsys):
    out = tmp_path / "out"
    real = export_module._write_csv
    calls = []

    def fill_up(path, columns):
        calls.append(path)
        if len(calls) == 3:
            path.write_text("round,ba")  # half a file, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, columns)

    monkeypatch.setattr(export_module, "_write_csv", fill_up)
    assert main(["export", str(log), "--to", "csv", str(out)]) == 2
    err = capsys.readouterr().err
    assert "outer.csv: cannot write: [Errno 28]" in err, err
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_export_never_writes_into_a_fifo_directory_or_link(tmp_path, log, kind, capsys):
    path = _targets(tmp_path)[kind]
    path.rename(tmp_path / "rounds.csv")
    path = tmp_path / "rounds.csv"
    assert main(["export", str(log), "--to", "csv", str(tmp_path), "--overwrite"]) == 2
    assert EXPECTED[kind] in capsys.readouterr().err
    _unchanged(tmp_path, kind, path)
    assert not (tmp_path / "eval.csv").exists()


# ------------------------------------------------ class 8: info on a link to a killed log


def test_info_on_a_link_to_a_killed_log_repairs_the_log_and_keeps_the_link(tmp_path):
    killed = tmp_path / "killed.h5"
    writer = (
        "import os, sys\nfrom crpsgd.runlog import RunLog\n"
        "log = RunLog(sys.argv[1], {'algorithm': 'psgd', 'config': '{}'})\n"
        "log.add_round(round=1, batch=1, sfo_per_worker=1, sfo_total=1, step_size=0.1,"
        " wall_s=0.0, compute_s=0.0, comm_s=0.0)\nlog.flush()\nos._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", writer, str(killed)], check=True, cwd=ROOT)
    link = tmp_path / "link.h5"
    link.symlink_to(killed)
    proc = crpsgd_within(["info", str(link)])
    assert proc.returncode == 0, proc.stderr
    assert "ended without a status (killed?) after round 1" in proc.stdout
    assert link.is_symlink() and os.readlink(link) == str(killed)
    with h5py.File(killed, "r") as f:  # the log itself was repaired: plain readers open it
        assert f["rounds/round"][()].tolist() == [1]
    assert read_run(link).state == "dead"
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


# ---------------------------------------------------------------- checkpoints and plots


def test_a_checkpoint_never_writes_through_a_planted_temporary_name(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    path = tmp_path / "run.ckpt.h5"
    (tmp_path / "run.ckpt.h5.tmp").symlink_to(victim)  # the fixed name used before
    ckpt = Checkpoint({}, 1, "psgd", "run.h5", 1, 1, [], {"x": np.zeros(2)})
    write_checkpoint(path, ckpt)
    assert victim.read_text() == "keep me\n"
    assert h5py.is_hdf5(path)
    fifo = tmp_path / "fifo.ckpt.h5"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="--checkpoint=.*fifo.ckpt.h5: cannot write"):
        write_checkpoint(fifo, ckpt)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_plot_never_writes_into_a_fifo_or_link(tmp_path, log, kind, capsys):
    pytest.importorskip("matplotlib")
    path = _targets(tmp_path)[kind]
    path.rename(tmp_path / "fig.png")
    path = tmp_path / "fig.png"
    assert main(["plot", str(log), "--out", str(tmp_path / "fig"), "--format", "png"]) == 2
    assert EXPECTED[kind] in capsys.readouterr().err
    _unchanged(tmp_path, kind, path)


def test_a_renamed_file_has_the_mode_of_a_plain_create(tmp_path):
    mask = os.umask(0o022)
    try:
        with AtomicFiles() as files:
            files.temp(tmp_path / "a.csv", "a.csv").write_text("x\n")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(os.stat(tmp_path / "a.csv").st_mode) == 0o644
