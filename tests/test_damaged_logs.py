"""Readers on damaged run logs (issue 22, class 1 and the hand-edited logs): every reader
ends promptly with one message naming the file and exit status 2, never a hang and never a
raw HDF5 error."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.failure_tools import one_message

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


def crpsgd(args: list[str], limit: float = 60) -> subprocess.CompletedProcess:
    """``python -m crpsgd ARGS``; a run past ``limit`` seconds is a hang (the test fails)."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "crpsgd", *args],
            capture_output=True,
            text=True,
            timeout=limit,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"crpsgd {' '.join(args)} still running after {limit} s") from None


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
    proc = crpsgd(["info", str(path)])
    assert proc.returncode == 2, proc.stderr
    one_message(proc.stderr, f"{path}: truncated run log ({size} bytes of {whole})")


@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_reader_on_a_cut_killed_log_is_one_message(tmp_path, logs, reader):
    path = _cut(logs["killed"], 65536, tmp_path / "t.h5")
    before = path.read_bytes()
    extra = [a.format(tmp=tmp_path) for a in READERS[reader]]
    proc = crpsgd([reader, str(path), *extra])
    assert proc.returncode == 2, proc.stderr
    one_message(proc.stderr, f"{path}: truncated run log")
    assert path.read_bytes() == before  # nothing rewritten
    assert not (tmp_path / "exported").exists()


def test_the_whole_logs_still_read(tmp_path, logs):
    for kind, src in logs.items():
        path = tmp_path / f"{kind}.h5"
        shutil.copy(src, path)
        proc = crpsgd(["info", str(path)])
        assert proc.returncode == 0, proc.stderr
