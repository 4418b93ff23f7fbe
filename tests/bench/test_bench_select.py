"""The experiment runner's selection options (bench/runner/select.py, rows.py) on synthetic
result rows and runs, each against a plain reference; and its resumable grids."""

import json
import math
import statistics
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import bench_module

rows_mod = bench_module("runner.rows")
select = bench_module("runner.select")

SELECT_TARGET = {"score": "tail", "rows": ["score", "settle", "reference"], "resume": True}
SELECT_FINAL = {"score": "final", "rows": ["score", "max_rounds"], "resume": False}


def _run(values, sfo, status="completed"):
    values, sfo = np.asarray(values, float), np.asarray(sfo)
    return SimpleNamespace(
        status=status,
        eval={"grad_norm_sq": values, "sfo_per_worker": sfo, "round": np.arange(len(sfo)) * 10},
        summary={"grad_norm_sq": float(values[-1]), "objective": 1.0, "rounds": 99},
        attrs={},
    )


def test_tail_score_is_the_median_over_the_second_half_of_the_budget():
    rng = np.random.default_rng(3)
    for _ in range(20):
        sfo = np.cumsum(rng.integers(1, 50, size=rng.integers(1, 30)))
        values = rng.random(len(sfo))
        budget = int(sfo[-1])
        tail = [v for v, s in zip(values, sfo, strict=True) if s >= budget / 2]
        expected = statistics.median(tail) if tail else values[-1]
        assert rows_mod.tail_score(_run(values, sfo), budget) == pytest.approx(expected, abs=0)
    assert rows_mod.tail_score(_run([1.0, 2.0], [1, 2], "failed: x"), 2) == math.inf
    # no evaluation in the second half: the last value
    assert rows_mod.tail_score(_run([3.0, 2.0], [1, 2]), 100) == 2.0


def _settled_reference(values, target):
    for i in range(len(values)):
        window = sorted(values[max(0, i - 4) : i + 1])
        n = len(window)
        median = window[n // 2] if n % 2 else (window[n // 2 - 1] + window[n // 2]) / 2
        if median <= target:
            return i
    return None


def test_first_and_settled_rounds_to_target():
    # one dip below the target at index 2, then above, then below for good
    values = [1.0, 0.9, 0.1, 0.8, 0.7, 0.05, 0.04, 0.03, 0.02, 0.01]
    row = rows_mod.target_row(_run(values, np.arange(1, 11) * 100), 1000, 0.2, "tail")
    assert (row["rounds_to_target"], row["sfo_to_target"]) == (20, 300)
    assert (row["rounds_to_settle"], row["sfo_to_settle"]) == (60, 700)
    rng = np.random.default_rng(5)
    for _ in range(50):
        values = list(rng.random(rng.integers(1, 25)))
        row = rows_mod.target_row(_run(values, np.arange(1, len(values) + 1)), 10, 0.3, "tail")
        first = next((i for i, v in enumerate(values) if v <= 0.3), None)
        stay = _settled_reference(values, 0.3)
        assert row["rounds_to_target"] == (None if first is None else first * 10)
        assert row["rounds_to_settle"] == (None if stay is None else stay * 10)
        assert stay is None or (first is not None and stay >= first)


def _row(point, seed, score, rounds, settle=None):
    return {
        "method": "m",
        "point": point,
        "seed": seed,
        "score": score,
        "rounds": rounds,
        "rounds_to_settle": settle,
        "log": f"{point}-{seed}",
    }


def test_point_score_is_the_median_over_the_tuning_seeds_and_failures_lose():
    a, b, c = {"g": 1}, {"g": 2}, {"g": 3}
    rows = [
        _row(a, 0, 3.0, 10),
        _row(a, 1, 1.0, 10),
        _row(a, 2, 0.0, 10),  # not a tuning seed: does not count
        _row(b, 0, 2.5, 40),
        _row(b, 1, 2.5, 40),
        _row(c, 0, math.nan, 5),
        _row(c, 1, 0.1, 5),
    ]
    scored, by_point = select.point_scores(rows, [0, 1])
    assert [(s, r) for s, r, _ in scored] == [(2.0, 10), (2.5, 40), (math.inf, 5)]
    assert [select.point_key(p) for p in (a, b, c)] == [k for *_, k in scored]
    assert len(by_point[select.point_key(a)]) == 3


def test_final_selection_best_score_and_best_within_the_round_limit():
    a, b = {"g": 1}, {"g": 2}
    rows = [_row(a, 0, 1.0, 100), _row(b, 0, 2.0, 30)]
    method = {"name": "m", "label": "M", "select_max_rounds": 50}
    scored, _ = select.point_scores(rows, [0])
    assert select.points_for_all_seeds(rows, method, SELECT_FINAL, [0]) == [a, b]
    picks = select.final_picks(method, scored, SELECT_FINAL)
    assert [(lab, lim) for lab, _, lim in picks] == [("M", None), ("M (rounds <= 50)", 50)]
    # the best point is within the limit anyway: one row that names the limit
    method["select_max_rounds"] = 100
    (pick,) = select.final_picks(method, scored, SELECT_FINAL)
    assert pick == ("M", select.point_key(a), 100)
    assert select.points_for_all_seeds(rows, method, SELECT_FINAL, [0]) == [a]
    no_limit_rule = {**SELECT_FINAL, "rows": ["score"]}
    assert len(select.final_picks({**method, "select_max_rounds": 50}, scored, no_limit_rule)) == 1


def test_target_selection_score_settle_and_reference_rows():
    p = [{"batch": 4, "g": 1}, {"batch": 4, "g": 2}, {"batch": 16, "g": 1}, {"batch": 16, "g": 2}]
    rows = [
        _row(p[0], 0, 0.5, 100, settle=80),
        _row(p[1], 0, 0.2, 100, settle=30),
        _row(p[2], 0, 0.1, 25, settle=30),  # best score; ties p[1] on settle, better score
        _row(p[3], 0, 0.3, 25, settle=None),
        _row(p[2], 1, 0.4, 25, settle=20),  # the chosen point's other seed
    ]
    method = {"name": "m", "reference": {"batch": 4}, "reference_label": "small batch"}
    picks = select.target_picks(method, rows, SELECT_TARGET, [0])
    assert [(by, [r["log"] for r in runs]) for by, runs in picks] == [
        ("score", [f"{p[2]}-0", f"{p[2]}-1"]),
        ("fewest rounds to settle", [f"{p[2]}-0"]),
        ("score, small batch", [f"{p[1]}-0"]),
    ]
    only_reference = {**SELECT_TARGET, "rows": ["reference"]}
    assert [by for by, _ in select.target_picks(method, rows, only_reference, [0])] == [
        "score, small batch"
    ]


def _tiny(tmp_path, shape):
    definition = bench_module("runner.definition")
    run = {"data": "synthetic:n=400,d=5,seed=1", "problem": "logreg", "lam": 1e-2, "T": 64}
    if shape == "problems":
        spec = {"name": "tiny", "tune_seed": 0, "seeds": [0, 1]}
        spec["problem"] = [{"name": "p", "target": 1e-1, "unit": "bound", "run": run}]
        spec["method"] = [{"name": "psgd", "algo": "psgd", "batch": [2, 4], "gamma": [1]}]
    else:
        spec = {"name": "tiny", "run": run, "grid": {"gamma": [1], "seeds": [0]}}
        spec["method"] = [{"name": "psgd", "algo": "psgd", "batch": [4]}]
    path = tmp_path / "tiny.toml"
    path.write_text(bench_module("runner.launch").toml_text(spec))
    return definition.load(path)


def _first_run(tmp_path, shape):
    """The tiny definition run once in this process (one rank): the runner, its definition,
    the output directory and the index as written."""
    execute = bench_module("runner.execute")
    spec, out = _tiny(tmp_path, shape), tmp_path / "out"
    execute.run_all(spec, out, force=False, only=None)
    return execute, spec, out, json.loads((out / "index.json").read_text())


@pytest.mark.slow
def test_resumable_grid_skips_completed_points_and_force_reruns(tmp_path):
    execute, spec, out, _ = _first_run(tmp_path, "problems")
    index = rows_mod.read_index(out / "index.json")
    logs = [rows_mod.ROOT / e["log"] for e in index["problems"]["p"]["runs"]]
    assert len(logs) == 3 and all(execute.completed(log) for log in logs)  # 2 points + 1 seed
    stamps = [log.stat().st_mtime_ns for log in logs]
    execute.run_all(spec, out, force=False, only=None)
    assert [log.stat().st_mtime_ns for log in logs] == stamps  # every point kept
    logs[0].write_bytes(b"not a log")  # an unreadable log is run again
    execute.run_all(spec, out, force=False, only=None)
    assert execute.completed(logs[0])
    assert [log.stat().st_mtime_ns for log in logs[1:]] == stamps[1:]
    execute.run_all(spec, out, force=True, only=None)
    assert all(log.stat().st_mtime_ns != s for log, s in zip(logs[1:], stamps[1:], strict=True))


@pytest.mark.slow
def test_single_shape_reruns_by_default_and_keeps_its_index_layout(tmp_path):
    execute, spec, out, index = _first_run(tmp_path, "single")
    assert list(index) == ["name", "L", "n_workers", "runs", "skipped"]
    (log,) = [rows_mod.ROOT / e["log"] for e in index["runs"]]
    stamp = log.stat().st_mtime_ns
    execute.run_all(spec, out, force=False, only=None)
    assert log.stat().st_mtime_ns != stamp
