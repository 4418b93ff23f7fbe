import h5py
import numpy as np
import pytest

from crpsgd.errors import UsageError
from crpsgd.runlog import EVAL_COLUMNS, ROUND_COLUMNS, RunLog, read_run


def _round(t):
    return dict(
        round=t,
        batch=2 * t,
        sfo_per_worker=t * t,
        sfo_total=4 * t * t,
        step_size=0.1,
        wall_s=0.01 * t,
        compute_s=0.001,
        comm_s=0.002,
    )


def _eval(t):
    return dict(
        round=t,
        sfo_per_worker=t * t,
        sfo_total=4 * t * t,
        objective=1.0 / (t + 1),
        grad_norm_sq=0.5,
        suboptimality=np.nan,
        test_accuracy=np.nan,
        wall_s=0.1,
        eval_s=0.01,
    )


def test_schema_roundtrip(tmp_path):
    path = tmp_path / "run.h5"
    log = RunLog(
        path,
        {"algorithm": "cr-psgd", "config": '{"T": 10}', "n_workers": 4, "data_shape": (100, 5)},
        flush_rows=3,
    )
    log.add_eval(**_eval(0))
    for t in range(1, 8):
        log.add_round(**_round(t))
    log.add_eval(**_eval(7))
    log.finish(np.arange(5.0), {"rounds": 7, "objective": 0.125})
    run = read_run(path)
    assert run.status == "completed"
    assert run.config == {"T": 10}
    assert run.attrs["data_shape"] == [100, 5] and run.attrs["format_version"] == 3
    assert set(run.rounds) == set(ROUND_COLUMNS) and set(run.eval) == set(EVAL_COLUMNS)
    np.testing.assert_array_equal(run.rounds["round"], np.arange(1, 8))
    np.testing.assert_array_equal(run.rounds["batch"], 2 * np.arange(1, 8))
    assert run.rounds["batch"].dtype == np.int64
    np.testing.assert_array_equal(run.eval["round"], [0, 7])
    np.testing.assert_array_equal(run.x, np.arange(5.0))
    assert run.summary == {"rounds": 7, "objective": 0.125}
    assert run.attrs["start_time"] <= run.attrs["end_time"]


def test_rows_are_on_disk_before_close(tmp_path):
    path = tmp_path / "run.h5"
    log = RunLog(path, {"algorithm": "psgd"}, flush_rows=2, flush_seconds=1e9)
    for t in range(1, 6):
        log.add_round(**_round(t))
    # read while the writer still holds the file: blocks of 2 rows were flushed
    with h5py.File(path, "r", locking=False) as f:
        assert f.attrs["status"] == "running"
        assert f["rounds/round"].shape == (4,)
    log.close("failed: test")
    run = read_run(path)
    assert run.status == "failed: test" and len(run.rounds["round"]) == 5 and run.x is None


def test_evaluations_are_flushed_with_the_rounds_and_the_first_at_once(tmp_path, monkeypatch):
    """The starting point's evaluation is on disk at once; later ones wait for the next
    flush (at most ``flush_seconds``), not one flush each: a flush costs milliseconds."""
    from crpsgd.runlog import writer

    clock = [100.0]
    monkeypatch.setattr(writer.time, "monotonic", lambda: clock[0])
    path = tmp_path / "run.h5"
    log = RunLog(path, {"algorithm": "psgd"}, flush_rows=1000, flush_seconds=1.0)

    def evals_on_disk() -> int:
        with h5py.File(path, "r", locking=False) as f:
            return f["eval/round"].shape[0]

    log.add_eval(**_eval(0))
    assert evals_on_disk() == 1
    for t in range(1, 4):
        clock[0] += 0.1
        log.add_round(**_round(t))
        log.add_eval(**_eval(t))
    assert evals_on_disk() == 1
    clock[0] += 1.0
    log.add_eval(**_eval(4))
    assert evals_on_disk() == 5
    log.add_eval(**_eval(5))
    log.close("failed: test")
    assert list(read_run(path).eval["round"]) == [0, 1, 2, 3, 4, 5]


def test_existing_file_needs_overwrite(tmp_path):
    path = tmp_path / "run.h5"
    path.write_bytes(b"")
    with pytest.raises(UsageError, match="file exists"):
        RunLog(path, {})
    RunLog(path, {}, overwrite=True).close("completed")


def test_reader_errors_name_the_file(tmp_path):
    with pytest.raises(UsageError, match="no such run log"):
        read_run(tmp_path / "absent.h5")
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(UsageError, match="bad.h5: cannot read"):
        read_run(bad)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    with pytest.raises(UsageError, match="not a crpsgd run log .format attribute missing"):
        read_run(other)
    for fmt, says in [
        ("crpsgd-data", "it is a crpsgd data file"),
        ("crpsgd-checkpoint", "it is a crpsgd checkpoint"),
        ("netcdf", "format attribute is 'netcdf'"),
    ]:
        with h5py.File(other, "w") as f:
            f.attrs["format"] = fmt
        with pytest.raises(UsageError, match=f"other.h5: not a crpsgd run log .{says}"):
            read_run(other)
