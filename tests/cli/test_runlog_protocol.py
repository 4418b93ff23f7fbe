"""The run log's write protocol: versions read, live logs read with SWMR, one writer per
log, and a log whose writer was killed repaired for plain HDF5 readers."""

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from crpsgd.errors import UsageError
from crpsgd.runlog import (
    FORMAT_VERSION,
    READABLE_VERSIONS,
    ROUND_COLUMNS,
    SCHEMA,
    RunLog,
    read_run,
    refuse_if_live,
    repair,
)
from tests.conftest import ROOT, run_cli

DATA = Path(__file__).parents[1] / "data"
V1_LOGS = ["run_v1_early.h5", "run_v1_psgd.h5", "run_v1_catalyst.h5"]

WRITER = textwrap.dedent(
    """
    import sys, time
    from crpsgd.runlog import RunLog
    log = RunLog(sys.argv[1], {"algorithm": "psgd", "config": "{}"}, flush_rows=1000)
    for t in range(1, int(sys.argv[2]) + 1):
        log.add_round(round=t, batch=1, sfo_per_worker=t, sfo_total=2 * t, step_size=0.1,
                      wall_s=0.0, compute_s=0.0, comm_s=0.0)
    log.flush()
    print("flushed", flush=True)
    time.sleep(600)
    """
)


def _start_writer(path: Path, rows: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(rows)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout.readline().strip() == "flushed"
    return proc


def _round(t):
    return dict(
        round=t,
        batch=1,
        sfo_per_worker=t,
        sfo_total=2 * t,
        step_size=0.1,
        wall_s=0.0,
        compute_s=0.0,
        comm_s=0.0,
    )


@pytest.mark.parametrize("name", V1_LOGS)
def test_logs_of_every_format_version_read(tmp_path, name):
    src = DATA / name
    with h5py.File(src, "r") as f:
        assert f.attrs["format_version"] == 1
    run = read_run(src)
    assert run.format_version == 1 and run.status == "completed" and run.state == "ended"
    assert set(ROUND_COLUMNS) <= set(run.rounds)  # early v1: local_steps/outer filled in
    n = len(run.rounds["round"])
    assert n > 0 and all(len(v) == n for v in run.rounds.values())
    np.testing.assert_array_equal(run.rounds["round"], np.arange(1, n + 1))
    assert run.units["rounds"]["sfo_per_worker"][0] == "SFO"
    commands = [["info"], ["report", "--target", "1e9"], ["export", "--to", "csv"]]
    if importlib.util.find_spec("matplotlib") is not None:
        commands.append(["plot", "--format", "png", "--out"])
    for command in commands:
        extra = [str(tmp_path / name)] if command[0] in ("export", "plot") else []
        proc = run_cli([command[0], str(src), *command[1:], *extra])
        assert proc.returncode == 0, proc.stderr
    # versions 2 and 3 read the same way, and versions this release cannot read are refused
    assert READABLE_VERSIONS == (1, 2, 3) and FORMAT_VERSION == 3
    future = tmp_path / "future.h5"
    shutil.copy(src, future)
    with h5py.File(future, "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(UsageError, match="format_version 99"):
        read_run(future)


def test_version_3_datasets_carry_unit_and_meaning(tmp_path):
    path = tmp_path / "run.h5"
    log = RunLog(path, {"algorithm": "psgd", "config": "{}"})
    log.add_round(**_round(1))
    log.close("completed")
    with h5py.File(path, "r") as f:
        assert f.attrs["format_version"] == 3
        for group, columns in SCHEMA.items():
            for name, col in columns.items():
                assert f[group][name].attrs["unit"] == col.unit
                assert f[group][name].attrs["meaning"] == col.meaning
        assert f.attrs["writer_pid"] == os.getpid() and f.attrs["heartbeat"] > 0


def test_live_log_reads_with_swmr_and_info_says_live(tmp_path):
    path = tmp_path / "live.h5"
    writer = _start_writer(path, 5)
    try:
        with h5py.File(path, "r", swmr=True) as f:  # the README's two lines
            assert f["rounds/round"][()].tolist() == [1, 2, 3, 4, 5]
        run = read_run(path)
        assert run.state == "live"
        proc = run_cli(["info", str(path)])
        assert proc.returncode == 0 and "running (live: pid" in proc.stdout
        # a second writer is refused and the live log is untouched
        with pytest.raises(UsageError, match="being written by a live run"):
            RunLog(path, {}, overwrite=True)
        with pytest.raises(UsageError, match="being written by a live run"):
            repair(path)
        with pytest.raises(UsageError, match=r"--out=.*live\.h5: being written by a live run"):
            refuse_if_live(path)
        assert len(read_run(path).rounds["round"]) == 5
    finally:
        writer.kill()
        writer.wait()


def test_killed_writer_repaired_for_plain_h5py(tmp_path):
    path = tmp_path / "killed.h5"
    writer = _start_writer(path, 1500)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    with pytest.raises(OSError, match="open for write"):
        h5py.File(path, "r")  # what HDF5 says before the repair
    run = read_run(path)
    assert run.state == "dead" and not run.repaired
    refuse_if_live(path)  # a dead writer does not hold the log
    assert "ended without a status (killed?) after round 1500" in run.status_text()
    proc = run_cli(["repair", str(path)])
    assert proc.returncode == 0, proc.stderr
    assert "repaired" in proc.stdout
    with h5py.File(path, "r") as f:  # plain reader, default file locking
        assert f["rounds/round"][()].tolist() == list(range(1, 1501))
        assert f.attrs["status"] == "running"
        assert f["rounds/batch"].attrs["unit"] == "samples"
    assert run_cli(["repair", str(path)]).stdout.strip().endswith("nothing to repair")
    # a repaired log can be overwritten by a new run
    RunLog(path, {}, overwrite=True).close("completed")


def test_read_run_repairs_a_dead_log_when_asked(tmp_path):
    path = tmp_path / "killed.h5"
    writer = _start_writer(path, 3)
    writer.kill()
    writer.wait()
    assert read_run(path, repair_dead=True).repaired
    with h5py.File(path, "r") as f:
        assert f["rounds/round"].shape == (3,)


def test_second_writer_on_one_out_is_refused_in_process(tmp_path):
    path = tmp_path / "run.h5"
    first = RunLog(path, {"algorithm": "psgd", "config": "{}"})
    first.add_round(**_round(1))
    with pytest.raises(UsageError, match=r"--out=.*run\.h5: being written by a live run \(pid"):
        RunLog(path, {}, overwrite=True)
    first.add_round(**_round(2))
    first.close("completed")
    run = read_run(path)
    assert run.status == "completed" and run.rounds["round"].tolist() == [1, 2]
    RunLog(path, {}, overwrite=True).close("completed")  # free again once the first ended


def test_resume_of_a_live_log_is_refused(tmp_path):
    path = tmp_path / "run.h5"
    first = RunLog(path, {"algorithm": "psgd", "config": "{}"})
    first.add_round(**_round(1))
    first.flush()
    with pytest.raises(UsageError, match="being written by a live run"):
        RunLog.resume(path, 1)
    first.close("preempted: test")
    resumed = RunLog.resume(path, 1)
    resumed.add_round(**_round(2))
    resumed.close("completed")
    run = read_run(path)
    assert run.rounds["round"].tolist() == [1, 2] and run.attrs["resumed_at_rounds"] == [1]
    assert run.units["rounds"]["comm_s"][0] == "s"


def test_resume_of_an_early_version_1_log_fills_the_missing_columns(tmp_path):
    path = tmp_path / "early.h5"
    shutil.copy(DATA / "run_v1_early.h5", path)
    log = RunLog.resume(path, 4)
    log.add_round(**_round(5))
    log.close("completed")
    run = read_run(path)
    assert run.format_version == 3  # rewritten in the current format
    assert run.rounds["round"].tolist() == [1, 2, 3, 4, 5]
    assert np.isnan(run.rounds["noise_var"]).all()  # columns v1 lacked, NaN (float) ones too
    assert run.rounds["local_steps"].tolist() == [1] * 5 and run.rounds["outer"].tolist() == [0] * 5
