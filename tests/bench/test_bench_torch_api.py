"""The analysis of ``python -m bench torch-api`` (bench/bench_torch_api.py) on synthetic
timings: the rounds' seconds recovered from a log's clock with the evaluations taken out, the
medians and the ratio, the 5% target, the table; no training."""

import statistics

import numpy as np
import pytest

from tests.conftest import bench_module

api = bench_module("bench_torch_api")


def _log(rounds_s, evals):
    """The ``/rounds/wall_s`` and ``/eval`` columns of a loop whose round ``r`` takes
    ``rounds_s[r - 1]`` seconds and which evaluates ``evals[r]`` seconds after round ``r``
    (``r = 0``: the starting point, before round 1)."""
    clock, wall, ev_rounds, ev_s = 0.0, [], [], []
    for r in range(len(rounds_s) + 1):
        if r > 0:
            clock += rounds_s[r - 1]
            wall.append(clock)
        if r in evals:
            clock += evals[r]
            ev_rounds.append(r)
            ev_s.append(evals[r])
    return wall, ev_rounds, ev_s


def test_round_seconds_are_the_rounds_after_the_warm_up_without_the_evaluations():
    rng = np.random.default_rng(5)
    for _ in range(50):
        n = int(rng.integers(3, 40))
        rounds_s = rng.uniform(0.01, 1.0, size=n)
        at = rng.choice(n + 1, size=int(rng.integers(0, n + 1)), replace=False)
        evals = {int(r): float(rng.uniform(0.5, 5.0)) for r in at}
        warmup = int(rng.integers(0, n))
        seconds, counted = api.round_seconds(*_log(rounds_s, evals), warmup=warmup)
        assert counted == n - warmup
        assert seconds == pytest.approx(rounds_s[warmup:].sum(), rel=1e-12)


def test_an_evaluation_after_the_last_round_or_before_the_warm_up_ends_is_not_taken_out():
    wall, ev_rounds, ev_s = _log([1.0, 1.0, 1.0, 1.0], {0: 7.0, 1: 5.0, 2: 3.0, 4: 11.0})
    assert api.round_seconds(wall, ev_rounds, ev_s, warmup=2) == (2.0, 2)
    assert api.round_seconds(wall, ev_rounds, ev_s, warmup=0) == (4.0, 4)


def test_round_seconds_needs_more_rounds_than_the_warm_up():
    with pytest.raises(ValueError, match="2 rounds: more than the 2 warm-up"):
        api.round_seconds([1.0, 2.0], [], [], warmup=2)


def test_summary_takes_medians_and_sets_the_target_from_b_64():
    train_s, bare_s = [1.3e-3, 1.0e-3, 1.1e-3, 9e-4], [1.0e-3, 2.0e-3, 1.05e-3]
    row = api.summarise(64, train_s, bare_s)
    ratio = statistics.median(train_s) / statistics.median(bare_s)
    assert row["ratio"] == pytest.approx(ratio)
    assert row["overhead"] == pytest.approx(ratio - 1)
    assert row["train_samples_per_s"] == pytest.approx(1 / statistics.median(train_s))
    assert row["bare_samples_per_s"] == pytest.approx(1 / 1.05e-3)
    assert row["target_met"] is (ratio <= 1.05) and row["repeats"] == 4
    assert api.summarise(256, [1.06], [1.0])["target_met"] is False
    assert api.summarise(256, [1.05], [1.0])["target_met"] is True
    assert api.summarise(16, [3.0], [1.0])["target_met"] is None


def test_measure_alternates_the_pair_and_summarises_each_batch(monkeypatch, tmp_path):
    calls = []
    per_sample = {"train": {16: 2.0, 64: 1.04}, "bare": {16: 1.0, 64: 1.0}}

    def fake(kind):
        def timed(data, batch, rounds, *rest):
            calls.append((kind, batch, rounds))
            return per_sample[kind][batch] * (1 + 0.01 * len(calls))

        return timed

    monkeypatch.setattr(api, "train_seconds_per_sample", fake("train"))
    monkeypatch.setattr(api, "bare_seconds_per_sample", fake("bare"))
    rows = api.measure(None, [16, 64], 10, 3, tmp_path, progress=lambda _: None)
    order = [kind for kind, batch, _ in calls if batch == 16]
    assert order == ["train", "bare", "bare", "train", "train", "bare"]
    assert all(rounds == 10 for *_, rounds in calls)
    assert [r["batch"] for r in rows] == [16, 64]
    for row in rows:
        expect = statistics.median(row["train_s_each"]) / statistics.median(row["bare_s_each"])
        assert row["ratio"] == pytest.approx(expect) and row["repeats"] == 3
    assert rows[0]["ratio"] > 1.9 and rows[0]["target_met"] is None
    assert rows[1]["target_met"] is True


def test_markdown_has_one_row_per_batch_with_its_figures():
    rows = [api.summarise(16, [2e-3], [1e-3]), api.summarise(64, [1.1e-3], [1e-3])]
    text = api.markdown(
        {"rows": rows, "repeats": 1, "rounds": 9, "model": "m", "data": "d", "torch": "t"}
        | {"threads": 1}
    )
    lines = text.splitlines()
    assert lines[2] == "| 16 | 500.0 | 1000.0 | 2.000 | +100.0% | - |"
    assert lines[3] == "| 64 | 909.1 | 1000.0 | 1.100 | +10.0% | no |"
    assert "Medians of 1 repeats of 9 rounds" in text
