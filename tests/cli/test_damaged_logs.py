"""Readers on damaged run logs (issue 22, class 1 and the hand-edited logs): every reader
ends promptly with one message naming the file and exit status 2, never a hang and never a
raw HDF5 error."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import ROOT
from tests.failure_tools import crpsgd_within, one_message

#: A log of ``rows`` rounds (several flushes), then closed ("completed") or the writer
#: ended without a status, as by ``kill -9`` ("killed").
WRITER = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from crpsgd.runlog import RunLog
    log = RunLog(sys.argv[1], {"algorithm": "psgd", "config": "{}"}, flush_rows=500)
    for t in range(1, int(sys.argv[2]) + 1):
        log.add_round(round=t, batch=1, sfo_per_worker=t, sfo_total=2 * t, step_size=0.1,
                      wall_s=0.0, compute_s=0.0, comm_s=0.0)
    log.flush()
    if sys.argv[3] == "killed":
        os._exit(0)
    log.close("completed", np.zeros(3), {"objective": 1.0})
    """
)

READERS = {
    "info": [],
    "report": [],
    "repair": [],
    "export": ["--to", "csv", "{tmp}/exported"],
    "project": ["--network", "10gbe"],
}


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("logs")
    made = {}
    for kind in ("completed", "killed"):
        path = where / f"{kind}.h5"
        subprocess.run(
            [sys.executable, "-c", WRITER, str(path), "20000", kind], check=True, cwd=ROOT
        )
        made[kind] = path
    return made


def _cut(src: Path, size: int, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes()[:size])
    return dst


@pytest.mark.parametrize("kind", ["completed", "killed"])
@pytest.mark.parametrize("cut", [4096, 65536, "half", "last byte"])
def test_info_on_a_cut_log_is_one_message(tmp_path, logs, kind, cut):
    whole = logs[kind].stat().st_size
    size = {"half": whole // 2, "last byte": whole - 1}.get(cut, cut)
    assert size < whole
    path = _cut(logs[kind], size, tmp_path / "t.h5")
    proc = crpsgd_within(["info", str(path)])
    assert proc.returncode == 2, proc.stderr
    one_message(proc.stderr, f"{path}: truncated run log ({size} bytes of {whole})")


@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_reader_on_a_cut_killed_log_is_one_message(tmp_path, logs, reader):
    path = _cut(logs["killed"], 65536, tmp_path / "t.h5")
    before = path.read_bytes()
    extra = [a.format(tmp=tmp_path) for a in READERS[reader]]
    proc = crpsgd_within([reader, str(path), *extra])
    assert proc.returncode == 2, proc.stderr
    one_message(proc.stderr, f"{path}: truncated run log")
    assert path.read_bytes() == before  # nothing rewritten
    assert not (tmp_path / "exported").exists()


def test_the_whole_logs_still_read(tmp_path, logs):
    for kind, src in logs.items():
        path = tmp_path / f"{kind}.h5"
        shutil.copy(src, path)
        proc = crpsgd_within(["info", str(path)])
        assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------------ hand-edited run logs


def _delete(where):
    def edit(f):
        del f[where]

    return edit


def _replace(where, data):
    def edit(f):
        del f[where]
        f.create_dataset(where, data=data)

    return edit


def _attr(name, value=None):
    def edit(f):
        if value is None:
            del f.attrs[name]
        else:
            f.attrs[name] = value

    return edit


def _result_attr(name, value):
    def edit(f):
        f["result"].attrs[name] = value

    return edit


EDITS = {
    "rounds not a group": (_replace("rounds", np.zeros(3)), "/rounds is not a group"),
    "short column": (_replace("rounds/batch", np.ones(4)), "/rounds/batch has 4 rows"),
    "text column": (
        _replace("eval/objective", np.array([b"x", b"y"])),
        "/eval/objective holds |S1 values, not numbers",
    ),
    "2-D column": (_replace("rounds/step_size", np.zeros((5, 2))), "has shape (5, 2)"),
    "config not JSON": (_attr("config", "{oops"), "root attribute config is not JSON"),
    "config a list": (_attr("config", "[1]"), "config is not a JSON object"),
    "n_workers text": (_attr("n_workers", "ten"), "root attribute n_workers is 'ten'"),
    "bad UTF-8": (_attr("algorithm", np.bytes_(b"\xff")), "attribute algorithm is not UTF-8"),
    "summary text": (_result_attr("objective", "low"), "/result attribute objective is 'low'"),
    "x text": (_replace("result/x", np.array([b"a"])), "/result/x holds |S1 values"),
    "no format_version": (_attr("format_version"), "format_version None is not one"),
    "format_version 99": (_attr("format_version", 99), "format_version 99 is not one"),
}


@pytest.fixture(scope="module")
def small_log(tmp_path_factory) -> Path:
    from crpsgd.runlog import RunLog

    path = tmp_path_factory.mktemp("edited") / "run.h5"
    log = RunLog(path, {"algorithm": "psgd", "config": "{}", "n_workers": 1})
    for t in range(1, 6):
        log.add_round(
            round=t, batch=1, sfo_per_worker=t, sfo_total=t, step_size=0.1, wall_s=0.0,
            compute_s=0.0, comm_s=0.0,
        )  # fmt: skip
        if t in (1, 5):
            log.add_eval(
                round=t, sfo_per_worker=t, sfo_total=t, objective=1.0 / t, grad_norm_sq=1.0,
                suboptimality=float("nan"), test_accuracy=float("nan"), wall_s=0.0, eval_s=0.0,
            )  # fmt: skip
    log.close("completed", np.zeros(3), {"objective": 0.2, "comm_bytes": 24, "rounds": 5})
    return path


@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("reader", ["info", "report", "export", "project"])
def test_hand_edited_logs_are_one_message_naming_the_file(tmp_path, small_log, edit, reader):
    from crpsgd.cli.app import main

    path = tmp_path / "edited.h5"
    shutil.copy(small_log, path)
    change, expected = EDITS[edit]
    with h5py.File(path, "r+") as f:
        change(f)
    extra = [a.format(tmp=tmp_path) for a in READERS[reader]]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main([reader, str(path), *extra]) == 2, err.getvalue()
    one_message(err.getvalue(), f"{path}: ")
    assert expected in err.getvalue()


def test_a_killed_logs_columns_cut_between_flushes_are_read_to_the_shortest(tmp_path, small_log):
    from crpsgd.runlog import read_run

    path = tmp_path / "cut.h5"
    shutil.copy(small_log, path)
    with h5py.File(path, "r+") as f:
        f.attrs["status"] = "running"
        _replace("rounds/batch", np.ones(4))(f)
    run = read_run(path)
    assert {len(v) for v in run.rounds.values()} == {4}


PROBE_5S = (
    "import sys\nimport crpsgd.files.hdf5_open as h\nh.SWMR_PROBE_S = 5.0\n"
    "from crpsgd.cli.app import main\nsys.exit(main(sys.argv[1:]))\n"
)


def test_a_killed_log_with_overwritten_metadata_is_one_message(tmp_path, logs):
    path = tmp_path / "damaged.h5"
    data = bytearray(logs["killed"].read_bytes())
    data[4096:64096] = bytes(60000)  # full length, metadata zeroed: checksums fail
    path.write_bytes(bytes(data))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", PROBE_5S, "info", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("crpsgd info still running after 60 s") from None
    assert proc.returncode == 2, proc.stderr
    one_message(proc.stderr, f"{path}: damaged run log: HDF5 was still reading its metadata")


VERIFY_5S = (
    "import sys\nimport crpsgd.files.hdf5_open as h\nh.SWMR_PROBE_S = 5.0\n"
    "from crpsgd.files.checkpoint import Checkpoint\nfrom crpsgd.errors import UsageError\n"
    "from crpsgd.session.resume_check import verify_resume\n"
    "ckpt = Checkpoint({}, 1, 'psgd', sys.argv[1], 1, 1, [], {})\n"
    "try:\n    verify_resume(ckpt, 'r.ckpt.h5')\nexcept UsageError as exc:\n"
    "    print(exc)\n    sys.exit(2)\n"
)


def test_resume_refuses_a_killed_log_with_overwritten_metadata(tmp_path, logs):
    path = tmp_path / "damaged.h5"
    data = bytearray(logs["killed"].read_bytes())
    data[4096:64096] = bytes(60000)
    path.write_bytes(bytes(data))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", VERIFY_5S, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("the resume check still running after 60 s") from None
    assert proc.returncode == 2, proc.stderr
    assert f"cannot read its run log {path}" in proc.stdout
    assert "HDF5 was still reading its metadata" in proc.stdout
