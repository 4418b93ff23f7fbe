"""Local SGD / PR-SGD on one rank: H = 1 is PSGD(b), rounds and SFO of a period, the period
rules and bad parameters. (N ranks against a serial recomputation: test_mpi_algorithms.py.)"""

from __future__ import annotations

import math

import numpy as np
import pytest

from crpsgd.algorithms.evaluation import Evaluator
from crpsgd.algorithms.local_sgd import auto_period, local_sgd
from crpsgd.algorithms.parallel_sgd import parallel_sgd
from crpsgd.comm.communicator import Communicator
from crpsgd.data.rng import worker_rng
from crpsgd.data.synthetic import parse_synthetic_spec, synthetic_rows
from crpsgd.errors import UsageError
from crpsgd.problems.nonconvex import NonconvexLogisticRegression, TwoLayerNetwork
from crpsgd.registry.config import merge
from crpsgd.runlog import RunLog, read_run
from tests import nonconvex_reference as R


@pytest.fixture(scope="module")
def comm():
    return Communicator()


def make_problem(kind: str, spec: str = "synthetic:n=300,d=6,seed=2"):
    sp = parse_synthetic_spec(spec)
    shard = synthetic_rows(sp, 0, sp.n)
    if kind == "mlp":
        return TwoLayerNetwork(shard, sp.n, 4, 1e-3)
    return NonconvexLogisticRegression(shard, sp.n, 0.05, 1.0)


def run_logged(tmp_path, name, fn, *args, **kwargs):
    log = RunLog(tmp_path / f"{name}.h5", {"algorithm": name, "config": "{}"})
    result = fn(*args, log=log, **kwargs)
    log.finish(result.x, {})
    return result, read_run(tmp_path / f"{name}.h5")


@pytest.mark.parametrize("kind", ["logreg-nonconvex", "mlp"])
@pytest.mark.parametrize("batch", [1, 3])
def test_period_one_is_psgd_bit_for_bit(tmp_path, comm, kind, batch):
    problem = make_problem(kind)
    x0 = problem.initial_point(4)
    ev = Evaluator(problem, comm)
    a, log_a = run_logged(
        tmp_path, "local", local_sgd, problem, comm, batch, 1, 200, 0.3, x0, worker_rng(9, 0), ev
    )
    b, log_b = run_logged(
        tmp_path, "psgd", parallel_sgd, problem, comm, batch, 200, 0.3, x0, worker_rng(9, 0), ev
    )
    np.testing.assert_array_equal(a.x, b.x)
    assert a.rounds == b.rounds == 200 // batch and a.sfo_per_worker == b.sfo_per_worker
    for col in ("round", "batch", "local_steps", "outer", "sfo_per_worker", "sfo_total"):
        np.testing.assert_array_equal(log_a.rounds[col], log_b.rounds[col])
    np.testing.assert_array_equal(log_a.eval["objective"], log_b.eval["objective"])
    np.testing.assert_array_equal(log_a.eval["grad_norm_sq"], log_b.eval["grad_norm_sq"])


def test_rounds_sfo_and_the_last_partial_period(tmp_path, comm):
    problem = make_problem("logreg-nonconvex")
    # T = 101, b = 4: 25 local steps in periods of 7: 7, 7, 7, 4
    res, log = run_logged(
        tmp_path,
        "ls",
        local_sgd,
        problem,
        comm,
        4,
        7,
        101,
        0.2,
        np.zeros(6),
        worker_rng(0, 0),
        None,
    )
    assert res.rounds == 4 == math.ceil((101 // 4) / 7)
    assert res.sfo_per_worker == 100 and res.final is None
    np.testing.assert_array_equal(log.rounds["local_steps"], [7, 7, 7, 4])
    np.testing.assert_array_equal(log.rounds["batch"], [4, 4, 4, 4])
    np.testing.assert_array_equal(log.rounds["sfo_per_worker"], [28, 56, 84, 100])
    assert len(log.eval.get("round", [])) == 0  # no evaluator, no /eval rows


def test_one_period_is_plain_sgd_on_one_rank(comm):
    """On one rank a period of H local steps is H sequential SGD steps (recomputed in NumPy)."""
    problem = make_problem("logreg-nonconvex")
    A, y = problem.shard.to_dense(), problem.shard.y
    res = local_sgd(problem, comm, 5, 6, 60, 0.4, np.zeros(6), worker_rng(3, 0), None)
    rng = worker_rng(3, 0)
    x = np.zeros(6)
    for _ in range(12):
        idx = np.sort(rng.integers(0, problem.n_local, size=5, dtype=np.int64))
        x = x - 0.4 * R.nclogreg_grad(A, y, x, idx, 0.05, 1.0)
    np.testing.assert_allclose(res.x, x, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    ("rule", "budget", "batch", "n", "expected"),
    [
        ("stich", 10000, 1, 4, 50),  # sqrt(10000 / 4)
        ("stich", 10000, 4, 4, 25),  # S = 2500: sqrt(625)
        ("stich", 3, 1, 8, 1),  # at least 1
        ("prsgd", 10000, 1, 1, 10),  # 10000^(1/4)
        ("prsgd", 160000, 1, 16, 2),  # 20 / 8 = 2.5
        ("prsgd", 100, 1, 8, 1),
    ],
)
def test_auto_period_rules(rule, budget, batch, n, expected):
    assert auto_period(rule, budget, batch, n) == expected


def test_auto_period_gives_the_stated_round_orders():
    n, budget = 8, 2**20
    rounds_stich = budget / auto_period("stich", budget, 1, n)
    rounds_prsgd = budget / auto_period("prsgd", budget, 1, n)
    assert rounds_stich == pytest.approx(math.sqrt(n * budget), rel=0.01)
    assert rounds_prsgd == pytest.approx(n**0.75 * budget**0.75, rel=0.3)


def test_bad_parameters_are_rejected(comm):
    problem = make_problem("logreg-nonconvex")
    with pytest.raises(ValueError, match="period=0 must be >= 1"):
        local_sgd(problem, comm, 1, 0, 10, 0.1, np.zeros(6), worker_rng(0, 0), None)
    with pytest.raises(ValueError, match="batch=0 must be >= 1"):
        local_sgd(problem, comm, 0, 1, 10, 0.1, np.zeros(6), worker_rng(0, 0), None)
    with pytest.raises(ValueError, match="unknown period rule"):
        auto_period("daily", 10, 1, 1)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"period": "0"}, "--period='0': must be >= 1"),
        ({"period": "-2"}, "--period='-2': must be >= 1"),
        ({"period": "often"}, "--period='often': expected int or 'auto'"),
        ({"period_rule": "weekly"}, "--period-rule='weekly': must be one of stich, prsgd"),
        ({"batch": "0"}, "--batch='0': must be >= 1"),
        ({"T": "3", "batch": "4"}, "--T=3: the budget is smaller than the first batch --batch=4"),
    ],
)
def test_bad_flags_name_the_argument(flags, message):
    with pytest.raises(UsageError) as err:
        merge({"algo": "local-sgd", **flags}, None)
    assert message in str(err.value)
