"""Learning-rate scaling with the batch (crpsgd/schedules/lr_scaling.py): the factors, where
the driver applies them, the compiled block's table, the log column and the refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crpsgd.algorithms import fast_rounds
from crpsgd.algorithms.driver import Driver
from crpsgd.algorithms.fast_plan import fast_plan
from crpsgd.algorithms.local_sgd import LocalSGD
from crpsgd.algorithms.parallel_sgd import parallel_sgd
from crpsgd.comm.communicator import Communicator
from crpsgd.data.rng import worker_rng
from crpsgd.data.synthetic import parse_synthetic_spec, synthetic_rows
from crpsgd.errors import UsageError
from crpsgd.problems.logreg import LogisticRegression
from crpsgd.registry.config import merge
from crpsgd.runlog import RunLog, read_run
from crpsgd.schedules.lr_scaling import LrScaling, adascale_gain, lr_scaling_from_config
from crpsgd.schedules.observed import with_noise_estimate
from crpsgd.schedules.schedule import ExponentialBatch, batch_sequence
from crpsgd.schedules.step_size import ConstantStep
from tests.unit.test_local_sgd import make_problem

NAN = math.nan


def test_linear_and_sqrt_are_the_batch_ratio_and_its_root():
    lin, root = LrScaling("linear", 2), LrScaling("sqrt", 2)
    for batch in (1, 3, 4, 7, 1000):
        assert lin.factor(batch, 4, NAN, NAN) == batch / 4
        assert root.factor(batch, 4, NAN, NAN) == math.sqrt(batch / 4)
    assert lin.factor(9, 3, 5.0, 1.0) == 3.0  # the noise estimate plays no part
    assert root.factor(12, 3, 5.0, 1.0) == 2.0


def test_the_tables_are_the_factors_bit_for_bit():
    batches = np.array([3, 4, 5, 7, 10, 15, 22, 33, 1001], dtype=np.int64)
    for name in ("linear", "sqrt"):
        rule = LrScaling(name, 4)
        table = rule.table(batches, 3)
        expected = [rule.factor(int(b), 3, NAN, NAN) for b in batches]
        assert table.tobytes() == np.array(expected).tobytes()
    assert LrScaling("adascale", 4).table(batches, 3) is None  # follows the estimates


def test_adascale_gain_is_johnson_et_al_formula():
    s2, g2, scale = 0.6, 0.2, 4.0
    assert adascale_gain(scale, s2, g2) == pytest.approx((s2 + g2) / (s2 / scale + g2), rel=1e-15)
    assert adascale_gain(scale, 1.0, 0.0) == scale  # pure noise: linear scaling
    assert adascale_gain(scale, 0.0, 1.0) == 1.0  # no noise: a bigger batch does not help
    assert adascale_gain(scale, 1.0, -0.5) == scale  # a negative ||grad f||^2 estimate is 0


@pytest.mark.parametrize("s2, g2", [(NAN, NAN), (NAN, 1.0), (1.0, NAN), (0.0, 0.0), (-1.0, 0.0)])
def test_adascale_gain_is_one_without_an_estimate(s2, g2):
    assert adascale_gain(8.0, s2, g2) == 1.0


def test_adascale_gain_lies_between_one_and_the_scale():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        scale = float(rng.uniform(1.0, 64.0))
        s2, g2 = rng.normal(size=2) * 10.0 ** rng.uniform(-6, 6, size=2)
        r = adascale_gain(scale, float(s2), float(g2))
        assert 1.0 <= r <= scale * (1 + 1e-15)


def test_adascale_reads_the_variance_of_the_base_batch():
    # s2 = tr(Sigma) / (N B_1): a per-sample trace 12 on N = 2 workers of B_1 = 3 is 2
    rule = LrScaling("adascale", 2)
    assert rule.factor(6, 3, 12.0, 1.0) == adascale_gain(2.0, 2.0, 1.0) == 1.5
    assert rule.factor(6, 3, NAN, NAN) == 1.0  # round 1: no estimate yet


def test_constant_is_no_rule_and_a_bad_name_is_refused():
    assert lr_scaling_from_config({}, 2) is None
    assert lr_scaling_from_config({"lr_scaling": "constant"}, 2) is None
    assert lr_scaling_from_config({"lr_scaling": "sqrt"}, 2) == LrScaling("sqrt", 2)
    with pytest.raises(UsageError, match="--lr-scaling=cubic"):
        LrScaling("cubic", 2)
    with pytest.raises(UsageError, match="--lr-scaling='cubic'"):
        merge({"lr_scaling": "cubic"}, None)


@pytest.mark.parametrize("algo", ["local-sgd", "post-local-sgd", "diloco"])
def test_algorithms_without_a_batch_schedule_refuse_it_by_name(algo):
    with pytest.raises(UsageError, match=rf"--lr-scaling=linear: .* not --algo {algo}"):
        merge({"algo": algo, "lr_scaling": "linear"}, None, command_line=False)
    merge({"algo": algo}, None)  # constant: what they always did
    for ok in ("psgd", "cr-psgd", "cr-psgd-catalyst"):
        cfg = merge({"algo": ok, "lr_scaling": "adascale"}, None, command_line=True)
        assert cfg["lr_scaling"] == "adascale"


def test_the_driver_refuses_it_for_an_algorithm_without_a_batch_schedule():
    problem = make_problem("logreg")
    driver = Driver(
        Communicator(), problem, 0.1, worker_rng(0, 0), None, lr_scaling=LrScaling("linear", 1)
    )
    with pytest.raises(UsageError, match="--lr-scaling=linear: LocalSGD"):
        driver.run(LocalSGD(problem, 2, 3, 60), np.zeros(problem.dim))


def _logreg() -> LogisticRegression:
    spec = parse_synthetic_spec("synthetic:n=400,d=7,seed=3")
    return LogisticRegression(synthetic_rows(spec, 0, spec.n), spec.n, 1e-3)


GROWING = ExponentialBatch(3, 1.4)


def _run(tmp_path, name, scaling, schedule=GROWING, budget=900):
    problem = _logreg()
    log = RunLog(tmp_path / f"{name}.h5", {"algorithm": "cr-psgd", "config": "{}"},
                 optional_rounds=("lr_scale",) if scaling is not None else ())  # fmt: skip
    result = parallel_sgd(
        problem, Communicator(), schedule, budget, ConstantStep(0.5), np.zeros(problem.dim),
        worker_rng(7, 0), None, log, lr_scaling=scaling,
    )  # fmt: skip
    log.finish(result.x, {})
    return result, read_run(tmp_path / f"{name}.h5")


def _serial(schedule, budget, factor):
    """Plain NumPy SGD on one worker's stream with ``gamma_t = 0.5 * factor(B_t)``."""
    spec = parse_synthetic_spec("synthetic:n=400,d=7,seed=3")
    shard = synthetic_rows(spec, 0, spec.n)
    rows = shard.to_dense()
    rng = worker_rng(7, 0)
    x = np.zeros(spec.d)
    for batch in batch_sequence(schedule, budget):
        idx = np.sort(rng.integers(0, shard.n_rows, size=batch, dtype=np.int64))
        a, b = rows[idx], shard.y[idx]
        grad = a.T @ (-b / (1.0 + np.exp(b * (a @ x)))) / batch + 1e-3 * x
        x = x - 0.5 * factor(batch) * grad
    return x


@pytest.mark.parametrize("fast", ["1", "0"])
def test_linear_scaling_on_one_rank_is_the_serial_recomputation(tmp_path, monkeypatch, fast):
    monkeypatch.setenv(fast_rounds.ENV, fast)
    schedule = ExponentialBatch(3, 1.4)
    result, run = _run(tmp_path, "lin", LrScaling("linear", 1), schedule)
    batches = np.array(batch_sequence(schedule, 900))
    np.testing.assert_array_equal(run.rounds["lr_scale"], batches / 3)
    np.testing.assert_array_equal(run.rounds["step_size"], 0.5 * (batches / 3))
    expected = _serial(schedule, 900, lambda b: b / 3)
    np.testing.assert_allclose(result.x, expected, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("name", ["linear", "sqrt"])
def test_the_compiled_block_is_bitwise_the_python_loop(tmp_path, monkeypatch, name):
    problem = _logreg()
    schedule = with_noise_estimate(ExponentialBatch(3, 1.4), 1, problem)
    buf = np.empty(problem.dim)
    assert fast_plan(problem, Communicator(), schedule, ConstantStep(0.5), buf, LrScaling(name, 1))
    fast = _run(tmp_path, "fast", LrScaling(name, 1))[1]
    monkeypatch.setenv(fast_rounds.ENV, "0")
    slow = _run(tmp_path, "slow", LrScaling(name, 1))[1]
    assert np.array_equal(fast.x, slow.x)
    for column in ("batch", "step_size", "lr_scale"):
        assert fast.rounds[column].tobytes() == slow.rounds[column].tobytes()


def test_constant_writes_no_column_and_the_same_iterate(tmp_path):
    plain, run = _run(tmp_path, "plain", None)
    assert "lr_scale" not in run.rounds
    linear_one, _ = _run(tmp_path, "one", LrScaling("linear", 1), schedule=5)  # B_t = B_1
    assert np.array_equal(_run(tmp_path, "psgd", None, schedule=5)[0].x, linear_one.x)
    assert not np.array_equal(plain.x, _run(tmp_path, "lin", LrScaling("linear", 1))[0].x)


def test_adascale_on_one_rank_uses_the_within_worker_estimate(tmp_path):
    problem = _logreg()
    schedule = with_noise_estimate(ExponentialBatch(3, 1.4), 1, problem, needed=True)
    assert schedule.noise.source == "samples"
    buf, rule = np.empty(problem.dim + 1), LrScaling("adascale", 1)
    assert fast_plan(problem, Communicator(), schedule, ConstantStep(0.5), buf, rule) is None
    _, run = _run(tmp_path, "ada", LrScaling("adascale", 1))
    scales, batches = run.rounds["lr_scale"], run.rounds["batch"]
    assert scales[0] == 1.0 and np.all(scales[1:] > 1.0)
    assert np.all(scales <= batches / batches[0])
    assert np.isfinite(run.rounds["noise_var"]).all()


def test_adascale_on_one_rank_without_a_within_worker_estimate_is_refused():
    problem = make_problem("mlp")
    with pytest.raises(UsageError, match="--lr-scaling=adascale on one worker"):
        with_noise_estimate(ExponentialBatch(3, 1.4), 1, problem, needed=True)
