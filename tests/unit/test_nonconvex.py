"""The non-convex problems (``logreg-nonconvex``, ``mlp``) and their Numba kernels against
plain NumPy references and central finite differences, on dense and CSR rows.

Tolerances: 1e-12 against the references (the kernels reorder sums); 1e-6 relative against
finite differences with step 1e-6.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from numba.core.runtime import _nrt_python, rtsys

from crpsgd.data.dataset import Dataset
from crpsgd.data.rng import worker_rng
from crpsgd.kernels import mlp as MK
from crpsgd.kernels.regularisers import nonconvex_penalty_add, proximal_add
from crpsgd.problems.nonconvex import NonconvexLogisticRegression, TwoLayerNetwork, init_rng
from tests import nonconvex_reference as R

TOL = {"rtol": 1e-12, "atol": 1e-12}
H = 5


def datasets(A, y) -> dict[str, Dataset]:
    indptr, indices, data = R.to_csr(A)
    return {
        "dense": Dataset(y, A.shape[1], dense=A),
        "csr": Dataset(y, A.shape[1], indptr=indptr, indices=indices, data=data),
    }


@pytest.fixture(scope="module")
def data():
    return R.make_data(n=40, d=7, density=0.5, seed=3)


def idx_cases(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    return [
        np.sort(rng.integers(0, n, size=30)),
        rng.integers(0, n, size=9),  # unsorted
        np.array([3, 3, 3, 8]),  # repeats count as often as they occur
        np.array([1]),  # the empty row
        np.arange(n),
    ]


def full_objective(problem, x) -> tuple[float, np.ndarray]:
    """``f`` and ``grad f`` from the problem's own ``local_sums`` + ``regulariser`` (1 rank)."""
    grad = np.empty(problem.dim)
    loss = problem.local_sums(x, grad)
    grad /= problem.n_total
    return loss / problem.n_total + problem.regulariser(x, grad), grad


def finite_difference(fun, x, eps=1e-6) -> np.ndarray:
    out = np.empty_like(x)
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = eps
        out[j] = (fun(x + e) - fun(x - e)) / (2 * eps)
    return out


# --------------------------------------------------------------------------- penalty kernels


def test_penalty_kernel_matches_reference():
    rng = np.random.default_rng(0)
    x = 3.0 * rng.standard_normal(11)
    grad = rng.standard_normal(11)
    before = grad.copy()
    value = nonconvex_penalty_add(x, 0.3, 2.0, grad)
    ref_v, ref_g = R.penalty(x, 0.3, 2.0)
    assert value == pytest.approx(ref_v, rel=1e-14)
    np.testing.assert_allclose(grad - before, ref_g, **TOL)
    np.testing.assert_allclose(
        ref_g, finite_difference(lambda z: R.penalty(z, 0.3, 2.0)[0], x), rtol=1e-6, atol=1e-9
    )


def test_penalty_curvature_lies_in_its_stated_range():
    """``phi'' in [-alpha/2, 2 alpha]``: the bound behind ``L = L_data + 2 lam alpha``."""
    alpha = 1.7
    t = np.linspace(-5, 5, 20001)
    u = alpha * t * t
    curv = 2 * alpha * (1 - 3 * u) / (1 + u) ** 3
    assert curv.max() == pytest.approx(2 * alpha) and curv.min() == pytest.approx(-alpha / 2)
    # and the formula is the second derivative of the penalty itself
    eps = 1e-4
    phi = lambda z: alpha * z * z / (1 + alpha * z * z)  # noqa: E731
    fd = (phi(t + eps) - 2 * phi(t) + phi(t - eps)) / eps**2
    np.testing.assert_allclose(curv, fd, atol=1e-5)


def test_proximal_kernel():
    rng = np.random.default_rng(1)
    x, c, g = rng.standard_normal((3, 6))
    before = g.copy()
    value = proximal_add(x, c, 0.7, g)
    assert value == pytest.approx(0.35 * np.sum((x - c) ** 2), rel=1e-14)
    np.testing.assert_allclose(g - before, 0.7 * (x - c), **TOL)


# --------------------------------------------------------------------------- logreg-nonconvex


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_nonconvex_logreg_stochastic_grad_matches_reference(data, layout):
    A, y, rng = data
    problem = NonconvexLogisticRegression(datasets(A, y)[layout], A.shape[0], 0.2, 1.5)
    x = rng.standard_normal(A.shape[1])
    out = np.full(A.shape[1], np.nan)
    for idx in idx_cases(A.shape[0], rng):
        idx = idx.astype(np.int64)
        problem.stochastic_grad(x, idx, out)
        np.testing.assert_allclose(out, R.nclogreg_grad(A, y, x, idx, 0.2, 1.5), **TOL)


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_nonconvex_logreg_objective_reference_and_finite_differences(data, layout):
    A, y, rng = data
    problem = NonconvexLogisticRegression(datasets(A, y)[layout], A.shape[0], 0.2, 1.5)
    x = 2.0 * rng.standard_normal(A.shape[1])
    value, grad = full_objective(problem, x)
    ref_v, ref_g = R.nclogreg_objective(A, y, x, 0.2, 1.5)
    assert value == pytest.approx(ref_v, rel=1e-13)
    np.testing.assert_allclose(grad, ref_g, **TOL)
    fd = finite_difference(lambda z: full_objective(problem, z)[0], x)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_nonconvex_logreg_is_not_convex_and_its_L_bounds_the_curvature(data):
    """The Hessian (by finite differences of the gradient) has a negative eigenvalue when the
    penalty dominates, and no eigenvalue above the stated smoothness constant."""
    A, y, _ = data
    problem = NonconvexLogisticRegression(datasets(A, y)["dense"], A.shape[0], 2.0, 1.0)
    gram = problem.local_curvature_gram()
    L = problem.smoothness_from_gram(gram)
    assert L == pytest.approx(2 * 2.0 * 1.0 + np.linalg.eigvalsh(A.T @ A / 4)[-1] / A.shape[0])
    assert problem.local_smoothness() >= L
    rng = np.random.default_rng(5)
    lowest = np.inf
    for scale in (0.0, 0.7, 1.5):
        x = scale * rng.standard_normal(A.shape[1])
        hess = np.column_stack(
            [
                (
                    full_objective(problem, x + 1e-5 * e)[1]
                    - full_objective(problem, x - 1e-5 * e)[1]
                )
                / 2e-5
                for e in np.eye(A.shape[1])
            ]
        )
        eig = np.linalg.eigvalsh(0.5 * (hess + hess.T))
        assert eig[-1] <= L + 1e-6
        lowest = min(lowest, eig[0])
    assert lowest < 0.0


# --------------------------------------------------------------------------- mlp


def mlp_problem(A, y, layout, lam=0.01):
    return TwoLayerNetwork(datasets(A, y)[layout], A.shape[0], H, lam)


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_mlp_stochastic_grad_matches_reference(data, layout):
    A, y, rng = data
    problem = mlp_problem(A, y, layout)
    assert problem.dim == MK.mlp_dim(A.shape[1], H) == A.shape[1] * H + 2 * H + 1
    x = rng.standard_normal(problem.dim)
    out = np.full(problem.dim, np.nan)
    for idx in idx_cases(A.shape[0], rng):
        idx = idx.astype(np.int64)
        problem.stochastic_grad(x, idx, out)
        np.testing.assert_allclose(out, R.mlp_grad(A, y, x, idx, H, 0.01), **TOL)


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_mlp_objective_reference_and_finite_differences(data, layout):
    A, y, rng = data
    problem = mlp_problem(A, y, layout)
    x = rng.standard_normal(problem.dim)
    value, grad = full_objective(problem, x)
    ref_v, ref_g = R.mlp_objective(A, y, x, H, 0.01)
    assert value == pytest.approx(ref_v, rel=1e-13)
    np.testing.assert_allclose(grad, ref_g, **TOL)
    fd = finite_difference(lambda z: full_objective(problem, z)[0], x)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_mlp_large_scores_stay_finite(data):
    A, y, rng = data
    problem = mlp_problem(A, y, "dense", lam=0.0)
    x = 200.0 * rng.standard_normal(problem.dim)
    value, grad = full_objective(problem, x)
    assert np.isfinite(value) and np.isfinite(grad).all()
    assert value == pytest.approx(R.mlp_objective(A, y, x, H, 0.0)[0], rel=1e-12)


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_mlp_count_correct(data, layout):
    A, y, rng = data
    problem = mlp_problem(A, y, layout)
    x = rng.standard_normal(problem.dim)
    expected = int(np.sum((R.mlp_scores(A, x, H) > 0) == (y > 0)))
    assert problem.count_correct(x, datasets(A, y)[layout]) == expected


def test_mlp_is_not_convex(data):
    """Swapping two hidden units gives the same loss: the midpoint of two minimisers' worth of
    symmetric points is worse than both (a convex function could not do this)."""
    A, y, rng = data
    problem = mlp_problem(A, y, "dense", lam=0.0)
    d = A.shape[1]
    x = problem.initial_point(3)
    x[: d * H] += rng.standard_normal(d * H)
    W, b, v, _ = R.mlp_unpack(x, d, H)
    perm = np.roll(np.arange(H), 1)
    swapped = x.copy()
    sW, sb, sv, _ = R.mlp_unpack(swapped, d, H)
    sW[:] = W[:, perm]
    sb[:] = b[perm]
    sv[:] = v[perm]
    f1 = full_objective(problem, x)[0]
    f2 = full_objective(problem, swapped)[0]
    assert f1 == pytest.approx(f2, rel=1e-12)
    assert full_objective(problem, 0.5 * (x + swapped))[0] != pytest.approx(f1, rel=1e-3)


def test_mlp_initial_point_is_seeded_random_and_rank_independent(data):
    A, y, _ = data
    problem = mlp_problem(A, y, "dense")
    x0 = problem.initial_point(11)
    np.testing.assert_array_equal(x0, problem.initial_point(11))
    assert not np.array_equal(x0, problem.initial_point(12))
    d = A.shape[1]
    W, b, v, c = R.mlp_unpack(x0, d, H)
    assert np.all(W != 0) and np.all(v != 0) and np.all(b == 0) and c == 0
    assert len(np.unique(v)) == H  # no two hidden units alike: not a symmetric saddle
    # its stream is not any rank's sampling stream
    first = init_rng(11).random()
    assert all(worker_rng(11, r).random() != first for r in range(64))
    assert problem.smoothness_known is False and np.isnan(problem.local_smoothness())


@numba.njit
def _repeat_mlp_kernels(A, y, x, indptr, indices, data, idx, h, out, work, reps):
    for _ in range(reps):
        MK.mlp_minibatch_grad_dense(A, y, x, idx, h, 0.1, out, work)
        MK.mlp_minibatch_grad_csr(indptr, indices, data, y, x, idx, A.shape[1], h, 0.1, out, work)
        MK.mlp_loss_grad_sum_dense(A, y, x, h, out, work)
        MK.mlp_loss_grad_sum_csr(indptr, indices, data, y, x, A.shape[1], h, out, work)
        nonconvex_penalty_add(x, 0.1, 1.0, out)
        proximal_add(x, x, 0.1, out)


def test_kernels_allocate_nothing(data):
    """As for the logistic kernels: 1 and 5 calls inside a jitted loop cost the same
    allocations (only the Python-to-Numba wrappers allocate)."""
    A, y, rng = data
    dim = MK.mlp_dim(A.shape[1], H)
    args = (A, y, rng.standard_normal(dim), *R.to_csr(A), np.sort(rng.integers(0, 40, 11)), H)
    args = (*args, np.empty(dim), np.empty(2 * H))
    was_enabled = _nrt_python.memsys_stats_enabled()
    _nrt_python.memsys_enable_stats()
    try:
        _repeat_mlp_kernels(*args, 1)  # compile
        counts = []
        for reps in (1, 5):
            before = rtsys.get_allocation_stats()
            _repeat_mlp_kernels(*args, reps)
            counts.append(rtsys.get_allocation_stats().alloc - before.alloc)
    finally:
        if not was_enabled:
            _nrt_python.memsys_disable_stats()
    assert counts[0] == counts[1]
