"""The loop's fast paths (issue 10, driver overhead) against the plain code they replace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from crpsgd.algorithms.control import RunControl
from crpsgd.data.rng import sample_indices, worker_rng
from crpsgd.errors import OutputError
from crpsgd.files.outputs import GuardedLog
from crpsgd.kernels.round_buffer import unpack_mean
from crpsgd.kernels.sampling import draw_sorted, radix_sort
from crpsgd.runlog.lock import is_locked
from crpsgd.runlog.writer import RunLog
from tests.conftest import ROOT, SHARED_DATA, mpiexec

SIZES = [1, 2, 3, 5, 7, 100, 16280, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 3 * 10**9]


@pytest.mark.parametrize("seed", [0, 7])
def test_draw_sorted_is_integers_then_sort_and_leaves_the_same_state(seed):
    ours, reference = worker_rng(seed, 1), worker_rng(seed, 1)
    for n in SIZES:
        for batch in (0, 1, 2, 3, 4, 63, 64, 255, 256, 1000, 4096):
            got = draw_sorted(ours, n, batch)
            want = np.sort(reference.integers(0, n, size=batch, dtype=np.int64))
            assert got.dtype == np.int64 and np.array_equal(got, want), (n, batch)
    assert ours.bit_generator.state == reference.bit_generator.state
    assert ours.random() == reference.random()


def test_sample_indices_keeps_the_stream_across_rounds():
    ours, reference = worker_rng(3, 0), worker_rng(3, 0)
    for t in range(1, 200):
        batch = 1 + (t * 37) % 90
        want = reference.integers(0, 16280, size=batch, dtype=np.int64)
        want.sort()
        assert np.array_equal(sample_indices(ours, 16280, batch), want)
    assert ours.bit_generator.state == reference.bit_generator.state


@pytest.mark.parametrize("n", [2, 3, 100, 2048, 2049, 16280, 2**22 + 5, 2**31 - 1, 2**32 - 1])
def test_radix_sort_is_a_sort(n):
    rng = np.random.default_rng(n)
    for size in (1, 2, 5, 256, 1000, 4097):
        a = rng.integers(0, n, size=size, dtype=np.int64)
        got = a.copy()
        radix_sort(got, np.empty_like(got), n)
        assert np.array_equal(got, np.sort(a)), size


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_unpack_mean_is_numpy_divide(dtype, size):
    rng = np.random.default_rng(size)
    work = (rng.standard_normal(130) * 10.0 ** rng.integers(-30, 30, 130)).astype(dtype)
    work[-1] = 0.0
    buf = np.empty(129, dtype=dtype)
    finite, stop = unpack_mean(work, buf.dtype.type(size), buf)
    assert np.array_equal(buf, np.divide(work[:-1], size)) and finite and not stop
    work[-1] = 1.0
    assert unpack_mean(work, buf.dtype.type(size), buf) == (True, True)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_unpack_mean_reports_a_non_finite_value(bad):
    work = np.ones(6)
    work[2] = bad
    work[-1] = 0.0
    finite, stop = unpack_mean(work, 2.0, np.empty(5))
    assert not finite and not stop


def _control(every: int, check_sync: int, path: Path | None, stop: bool = False) -> RunControl:
    comm = SimpleNamespace(stop_agreed=stop, size=1, is_root=True)
    return RunControl(comm, path, every=every, check_sync=check_sync)  # type: ignore[arg-type]


def test_control_due_exactly_when_after_round_acts(tmp_path):
    assert not any(_control(0, 0, tmp_path / "c").due(r) for r in range(1, 50))
    assert [r for r in range(1, 13) if _control(0, 4, None).due(r)] == [4, 8, 12]
    assert [r for r in range(1, 8) if _control(3, 0, tmp_path / "c").due(r)] == [3, 4, 5, 6, 7]
    assert not _control(3, 0, None).due(5)  # nowhere to write a checkpoint
    assert _control(0, 0, None, stop=True).due(1)  # a stop always acts (Preempted)


def test_guarded_log_binds_once_and_still_guards(tmp_path):
    calls = []

    class Inner:
        def add_round(self, **row):
            calls.append(row)
            if row.get("fail"):
                raise OSError(28, "No space left on device")

    log = GuardedLog(Inner(), tmp_path / "r.h5")
    add = log.add_round
    assert log.add_round is add  # the wrapper is made once
    add(round=1)
    with pytest.raises(OutputError, match="No space left on device"):
        add(fail=True)
    add(round=3)  # after a failure nothing reaches the file
    assert calls == [{"round": 1}, {"fail": True}]


def test_round_rows_fill_defaults_and_name_a_missing_column(tmp_path):
    full = dict(
        round=1, batch=4, sfo_per_worker=4, sfo_total=8, step_size=0.5,
        wall_s=0.1, compute_s=0.01, comm_s=0.02,
    )  # fmt: skip
    log = RunLog(tmp_path / "r.h5", {})
    log.add_round(**full)
    log.add_round(**{**full, "round": 2, "local_steps": 3, "outer": 2})
    log.close("completed")
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert f["rounds/round"][:].tolist() == [1, 2]
        assert f["rounds/local_steps"][:].tolist() == [1, 3]
        assert f["rounds/outer"][:].tolist() == [0, 2]
        assert f["rounds/step_size"][:].tolist() == [0.5, 0.5]
    log = RunLog(tmp_path / "s.h5", {})
    log.add_round(**{k: v for k, v in full.items() if k != "comm_s"})
    with pytest.raises(KeyError, match="/rounds has no column 'comm_s'"):
        log.flush()
    with pytest.raises(KeyError):  # the file is still closed and the lock released
        log.close("completed")
    assert not is_locked(tmp_path / "s.h5")


@pytest.mark.slow
@pytest.mark.mpi
def test_bench_overhead_reports_every_part_of_a_round(tmp_path):
    """``python -m bench overhead`` end to end on 2 ranks, tiny: every row has the round, the
    kernel, the bare Allreduce and the Python floor, and the ratios are those numbers'."""
    if mpiexec() is None:
        pytest.skip("no MPI launcher (mpiexec) found")
    if not (SHARED_DATA / "a9a").is_file():
        pytest.skip(f"real data not found: {SHARED_DATA / 'a9a'}")
    out = tmp_path / "o.json"
    cmd = [sys.executable, "-m", "bench", "overhead", "--batches", "4,64"]
    cmd += ["--rounds", "200", "--repeats", "1", "--np", "2", "--out", str(out)]
    env = dict(os.environ, MPIR_CVAR_CH4_PROGRESS_THROTTLE="1")
    env["MPIR_CVAR_CH4_PROGRESS_THROTTLE_NO_PROGRESS_COUNT"] = "1"
    subprocess.run(cmd, check=True, cwd=ROOT, env=env, timeout=600, capture_output=True)
    rows = json.loads(out.read_text())["rows"]
    assert [r["batch"] for r in rows] == [4, 64]
    for r in rows:
        for key in ("round_s", "kernel_s", "allreduce_s", "floor_s"):
            assert 0 < r[key] < 1, key
        assert r["round_over_allreduce"] == pytest.approx(r["round_s"] / r["allreduce_s"])
        assert 0 < r["sampling_s"] < 1
        assert r["driver_s"] == pytest.approx(r["round_s"] - r["floor_s"])
