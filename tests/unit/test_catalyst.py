"""CR-PSGD-Catalyst on one rank: the plan (K, inner budget), SFO never above T, rounds equal
to the sum of the inner runs' rounds, the log (/rounds outer column, /outer rows, best point),
the auto parameters, and bad parameters. (N ranks: test_mpi_algorithms.py.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crpsgd.algorithms.catalyst import catalyst, catalyst_plan, check_plan
from crpsgd.algorithms.evaluation import Evaluator
from crpsgd.algorithms.parallel_sgd import parallel_sgd
from crpsgd.comm.communicator import Communicator
from crpsgd.data.rng import worker_rng
from crpsgd.errors import UsageError
from crpsgd.problems.proximal import ProximalProblem
from crpsgd.registry.config import merge
from crpsgd.runlog import OUTER_COLUMNS, RunLog, read_run
from crpsgd.schedules.schedule import ExponentialBatch, batch_sequence
from tests import nonconvex_reference as R
from tests.conftest import run_cli
from tests.unit.test_local_sgd import make_problem


@pytest.fixture(scope="module")
def comm():
    return Communicator()


# --------------------------------------------------------------------------- plan


@settings(deadline=None, max_examples=300)
@given(st.integers(1, 10**9), st.integers(1, 4096))
def test_default_plan_is_the_papers_and_never_exceeds_the_budget(budget, n):
    plan = catalyst_plan(budget, n)
    assert plan.outer == math.isqrt(n * budget)
    assert plan.inner_budget**2 <= budget / n < (plan.inner_budget + 1) ** 2
    assert plan.outer * plan.inner_budget <= budget


@settings(deadline=None, max_examples=200)
@given(st.integers(1, 10**9), st.integers(1, 10**6))
def test_given_outer_splits_the_budget(budget, outer):
    plan = catalyst_plan(budget, 8, outer)
    assert plan.outer == outer and plan.inner_budget == budget // outer
    assert plan.outer * plan.inner_budget <= budget


def test_plan_too_small_for_the_first_batch_is_rejected():
    plan = catalyst_plan(100, 8)  # K = 28, T_in = 3
    assert (plan.outer, plan.inner_budget) == (28, 3)
    check_plan(plan, 3, 100, 8)
    with pytest.raises(UsageError, match=r"--T=100: .* 28 outer iterations of 3 SFO .* --b1=4"):
        check_plan(plan, 4, 100, 8)
    with pytest.raises(ValueError, match="outer=0"):
        catalyst_plan(100, 8, 0)


# --------------------------------------------------------------------------- a run


def run_catalyst(
    tmp_path, comm, problem, plan, b1=2, rho=1.5, theta=0.8, gamma=0.3, eval_factor=1.25
):
    log = RunLog(tmp_path / "cat.h5", {"algorithm": "cr-psgd-catalyst", "config": "{}"})
    result = catalyst(
        problem,
        comm,
        ExponentialBatch(b1, rho),
        plan,
        theta,
        gamma,
        problem.initial_point(1),
        worker_rng(5, 0),
        Evaluator(problem, comm),
        log,
        eval_factor=eval_factor,
    )
    log.finish(result.x, {})
    return result, read_run(tmp_path / "cat.h5")


@pytest.mark.parametrize("kind", ["logreg-nonconvex", "mlp"])
def test_sfo_rounds_and_log_of_a_run(tmp_path, comm, kind):
    problem = make_problem(kind)
    budget = 2000
    plan = catalyst_plan(budget, 1)  # K = 44 outer iterations of 44 SFO
    inner = batch_sequence(ExponentialBatch(2, 1.5), plan.inner_budget)  # 2 3 4 6 10 15
    res, log = run_catalyst(tmp_path, comm, problem, plan)

    assert res.sfo_per_worker == plan.outer * sum(inner) <= budget
    assert res.rounds == plan.outer * len(inner) == len(log.rounds["round"])
    np.testing.assert_array_equal(log.rounds["round"], np.arange(1, res.rounds + 1))
    np.testing.assert_array_equal(
        log.rounds["outer"], np.repeat(np.arange(1, plan.outer + 1), len(inner))
    )
    np.testing.assert_array_equal(log.rounds["batch"], np.tile(inner, plan.outer))
    assert np.all(log.rounds["local_steps"] == 1)
    assert log.rounds["sfo_per_worker"][-1] == res.sfo_per_worker
    # every inner run stays within its own budget; rounds add up
    for k in range(1, plan.outer + 1):
        assert log.rounds["batch"][log.rounds["outer"] == k].sum() <= plan.inner_budget

    outer = log.outer
    assert set(outer) == set(OUTER_COLUMNS)
    np.testing.assert_array_equal(outer["outer"], np.arange(1, plan.outer + 1))
    np.testing.assert_array_equal(outer["round"], len(inner) * np.arange(1, plan.outer + 1))
    np.testing.assert_array_equal(
        outer["sfo_per_worker"], sum(inner) * np.arange(1, plan.outer + 1)
    )
    evaluated = outer["evaluated"] == 1
    assert evaluated[-1] and evaluated[0] and 3 < evaluated.sum() < plan.outer
    assert np.all(np.isnan(outer["objective"][~evaluated]))
    # geometric spacing: each evaluated SFO is >= 1.25 x the previous one (but the last)
    sfo_eval = outer["sfo_per_worker"][evaluated]
    assert np.all(sfo_eval[1:-1] >= 1.25 * sfo_eval[:-2])
    # /eval holds y_0 and the evaluated y_k at their cumulative rounds
    np.testing.assert_array_equal(log.eval["round"], np.r_[0, outer["round"][evaluated]])
    np.testing.assert_array_equal(log.eval["grad_norm_sq"][1:], outer["grad_norm_sq"][evaluated])

    # the returned point is y_K; the best is the evaluated y_k of least ||grad f||^2
    np.testing.assert_array_equal(log.x, res.x)
    gn = np.r_[log.eval["grad_norm_sq"][0], outer["grad_norm_sq"][evaluated]]
    ks = np.r_[0, outer["outer"][evaluated]]
    assert log.attrs["best_outer"] == res.best_outer == ks[np.argmin(gn)]
    assert log.attrs["best_grad_norm_sq"] == pytest.approx(gn.min())
    assert log.attrs["outer_iterations"] == plan.outer and log.attrs["inner_budget"] == 44
    best_grad = np.empty(problem.dim)
    problem.local_sums(log.result_arrays["y_best"], best_grad)
    best_grad /= problem.n_total
    problem.regulariser(log.result_arrays["y_best"], best_grad)
    assert best_grad @ best_grad == pytest.approx(gn.min(), rel=1e-12)
    assert gn.min() < gn[0]  # it made progress


def test_matches_a_numpy_recomputation(comm):
    """Algorithm 2 recomputed in NumPy from the same stream: inner CR-PSGD on f + prox."""
    problem = make_problem("logreg-nonconvex")
    A, y = problem.shard.to_dense(), problem.shard.y
    plan = catalyst_plan(600, 1, outer=7)  # T_in = 85
    res = catalyst(
        problem,
        comm,
        ExponentialBatch(3, 1.4),
        plan,
        0.9,
        0.25,
        np.zeros(6),
        worker_rng(2, 0),
        None,
    )
    rng = worker_rng(2, 0)
    yk = np.zeros(6)
    for _ in range(plan.outer):
        x = yk.copy()
        for batch in batch_sequence(ExponentialBatch(3, 1.4), plan.inner_budget):
            idx = np.sort(rng.integers(0, problem.n_local, size=batch, dtype=np.int64))
            x = x - 0.25 * (R.nclogreg_grad(A, y, x, idx, 0.05, 1.0) + 0.9 * (x - yk))
        yk = x
    np.testing.assert_allclose(res.x, yk, rtol=1e-12, atol=1e-14)
    assert res.final is None and res.best_outer == 0  # nothing evaluated without an evaluator


def test_one_outer_iteration_is_the_core_loop_on_the_proximal_problem(comm):
    problem = make_problem("mlp")
    y0 = problem.initial_point(3)
    plan = catalyst_plan(300, 1, outer=1)
    a = catalyst(
        problem, comm, ExponentialBatch(2, 1.3), plan, 0.5, 0.2, y0, worker_rng(1, 0), None
    )
    prox = ProximalProblem(problem, 0.5, y0)
    b = parallel_sgd(prox, comm, ExponentialBatch(2, 1.3), 300, 0.2, y0, worker_rng(1, 0), None)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.rounds == b.rounds and a.sfo_per_worker == b.sfo_per_worker


def test_catalyst_rejects_bad_theta(comm):
    problem = make_problem("logreg-nonconvex")
    for theta in (0.0, -1.0):
        with pytest.raises(ValueError, match="theta"):
            catalyst(
                problem,
                comm,
                2,
                catalyst_plan(100, 1),
                theta,
                0.1,
                np.zeros(6),
                worker_rng(0, 0),
                None,
            )


# --------------------------------------------------------------------------- configuration / CLI


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"theta": "0"}, "--theta='0': must be > 0"),
        ({"theta": "-0.5"}, "--theta='-0.5': must be > 0"),
        ({"theta": "big"}, "--theta='big': expected float or 'auto'"),
        ({"outer": "0"}, "--outer='0': must be >= 1"),
        ({"outer": "1.5"}, "--outer='1.5': expected int or 'auto'"),
        ({"b1": "0"}, "--b1='0': must be >= 1"),
        ({"rho": "1"}, "--rho='1': must be > 1"),
        ({"alpha": "0"}, "--alpha='0': must be > 0"),
        ({"hidden": "0"}, "--hidden='0': must be >= 1"),
        (
            {"problem": "mlp", "theta": "1"},
            "--gamma=auto: the smoothness constant L of --problem=mlp",
        ),
        (
            {"problem": "mlp", "gamma": "0.1"},
            "--theta=auto: the smoothness constant L of --problem=mlp",
        ),
        ({"problem": "logreg-nonconvex", "fstar": "auto"}, "--fstar=auto: the Newton solve is for"),
        ({"T": "4", "b1": "8"}, "--T=4: the budget is smaller than the first batch --b1=8"),
    ],
)
def test_bad_flags_name_the_argument(flags, message):
    with pytest.raises(UsageError) as err:
        merge({"algo": "cr-psgd-catalyst", **flags}, None)
    assert message in str(err.value)


def test_mlp_with_numbers_is_accepted():
    cfg = merge({"algo": "cr-psgd-catalyst", "problem": "mlp", "gamma": "0.1", "theta": "2"}, None)
    assert cfg["gamma"] == 0.1 and cfg["theta"] == 2.0 and cfg["outer"] == "auto"
    cfg = merge({"algo": "local-sgd", "problem": "mlp", "gamma": "0.1"}, None)  # theta unused
    assert cfg["theta"] == "auto"


def test_cli_run_logs_auto_parameters(tmp_path):
    out = tmp_path / "c.h5"
    proc = run_cli(
        ["run", "--algo", "cr-psgd-catalyst", "--problem", "logreg-nonconvex", "--data",
         "synthetic:n=400,d=5,seed=1", "--T", "900", "--b1", "2", "--rho", "1.4", "--lam", "0.01",
         "--out", str(out), "--quiet"]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = read_run(out)
    L = run.attrs["smoothness_L"]
    assert run.attrs["theta"] == pytest.approx(2 * L)
    assert run.attrs["step_size"] == pytest.approx(1 / (3 * L))
    assert run.attrs["outer_iterations"] == 30 and run.attrs["inner_budget"] == 30
    assert run.summary["sfo_per_worker"] <= 900 and run.summary["rounds"] == len(
        run.rounds["round"]
    )
    assert "y_best" in run.result_arrays and 0 <= run.attrs["best_outer"] <= 30


def test_cli_rejects_an_inner_budget_below_the_first_batch(tmp_path):
    out = tmp_path / "c.h5"
    proc = run_cli(
        ["run", "--algo", "cr-psgd-catalyst", "--data", "synthetic:n=100,d=3", "--T", "40",
         "--b1", "8", "--out", str(out)]
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--T=40: cr-psgd-catalyst on 1 workers runs 6 outer iterations of 6 SFO" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
