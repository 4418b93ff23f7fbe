"""The proximal wrapper ``h(x) = f(x) + theta/2 ||x - y||^2`` of Catalyst around any problem."""

from __future__ import annotations

import numpy as np
import pytest

from crpsgd.data.dataset import Dataset
from crpsgd.problems.logreg import LogisticRegression
from crpsgd.problems.nonconvex import NonconvexLogisticRegression, TwoLayerNetwork
from crpsgd.problems.proximal import ProximalProblem
from tests import nonconvex_reference as R
from tests.unit.test_nonconvex import finite_difference, full_objective


class CountingProblem(NonconvexLogisticRegression):
    """Counts the samples the wrapped oracle is asked for: SFO calls."""

    sfo = 0

    def stochastic_grad(self, x, idx, out):
        self.sfo += len(idx)
        super().stochastic_grad(x, idx, out)


@pytest.fixture(scope="module")
def shard():
    A, y, _ = R.make_data(n=30, d=6, density=0.6, seed=8)
    indptr, indices, data = R.to_csr(A)
    return Dataset(y, 6, indptr=indptr, indices=indices, data=data)


def bases(shard):
    return {
        "logreg": LogisticRegression(shard, shard.n_rows, 0.1),
        "logreg-nonconvex": NonconvexLogisticRegression(shard, shard.n_rows, 0.5, 2.0),
        "mlp": TwoLayerNetwork(shard, shard.n_rows, 3, 0.01),
    }


@pytest.mark.parametrize("name", ["logreg", "logreg-nonconvex", "mlp"])
def test_stochastic_grad_adds_theta_times_distance(shard, name):
    base = bases(shard)[name]
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((2, base.dim))
    prox = ProximalProblem(base, 0.75, y)
    idx = np.sort(rng.integers(0, shard.n_rows, 12))
    got, plain = np.empty(base.dim), np.empty(base.dim)
    prox.stochastic_grad(x, idx, got)
    base.stochastic_grad(x, idx, plain)
    np.testing.assert_allclose(got, plain + 0.75 * (x - y), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", ["logreg", "logreg-nonconvex", "mlp"])
def test_objective_and_gradient_by_finite_differences(shard, name):
    base = bases(shard)[name]
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((2, base.dim))
    prox = ProximalProblem(base, 1.3, y)
    value, grad = full_objective(prox, x)
    base_value, base_grad = full_objective(base, x)
    assert value == pytest.approx(base_value + 0.65 * np.sum((x - y) ** 2), rel=1e-13)
    np.testing.assert_allclose(grad, base_grad + 1.3 * (x - y), rtol=1e-12, atol=1e-14)
    fd = finite_difference(lambda z: full_objective(prox, z)[0], x)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_proximal_term_costs_no_sfo(shard):
    base = CountingProblem(shard, shard.n_rows, 0.5, 2.0)
    prox = ProximalProblem(base, 2.0, np.zeros(6))
    out = np.empty(6)
    prox.stochastic_grad(np.ones(6), np.arange(7, dtype=np.int64), out)
    assert base.sfo == 7
    prox.local_sums(np.ones(6), out)
    prox.regulariser(np.ones(6), out)
    assert base.sfo == 7


def test_set_center_moves_the_centre_without_aliasing(shard):
    base = bases(shard)["logreg"]
    y0 = np.zeros(6)
    prox = ProximalProblem(base, 1.0, y0)
    y0[:] = 5.0  # the wrapper copied its centre
    assert np.all(prox.center == 0.0)
    y1 = np.arange(6.0)
    prox.set_center(y1)
    y1[:] = -1.0
    np.testing.assert_array_equal(prox.center, np.arange(6.0))
    grad = np.zeros(6)
    assert prox.regulariser(np.arange(6.0), grad) == pytest.approx(
        base.regulariser(np.arange(6.0), np.zeros(6))
    )


def test_subproblem_is_strongly_convex_once_theta_exceeds_L(shard):
    """``h`` has Hessian eigenvalues in ``[theta - L, theta + L]`` for the non-convex problem."""
    base = NonconvexLogisticRegression(shard, shard.n_rows, 3.0, 1.0)
    L = base.smoothness_from_gram(base.local_curvature_gram())
    prox = ProximalProblem(base, 1.5 * L, np.zeros(6))
    assert prox.local_smoothness() == pytest.approx(base.local_smoothness() + 1.5 * L)
    rng = np.random.default_rng(4)
    for _ in range(3):
        x = rng.standard_normal(6)
        hess = np.column_stack(
            [
                (full_objective(prox, x + 1e-5 * e)[1] - full_objective(prox, x - 1e-5 * e)[1])
                / 2e-5
                for e in np.eye(6)
            ]
        )
        eig = np.linalg.eigvalsh(0.5 * (hess + hess.T))
        assert eig[0] >= 0.5 * L - 1e-5 and eig[-1] <= 2.5 * L + 1e-5


@pytest.mark.parametrize("theta", [0.0, -1.0, float("nan")])
def test_bad_theta_is_rejected(shard, theta):
    with pytest.raises(ValueError, match="theta"):
        ProximalProblem(bases(shard)["logreg"], theta, np.zeros(6))


def test_centre_of_the_wrong_shape_is_rejected(shard):
    with pytest.raises(ValueError, match="shape"):
        ProximalProblem(bases(shard)["logreg"], 1.0, np.zeros(5))
