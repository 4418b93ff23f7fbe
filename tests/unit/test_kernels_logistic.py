"""The logistic-regression kernels against a plain NumPy reference and finite differences.

All data are generated here (dense and CSR built with NumPy from the same matrix), so the
tests need no files. Tolerances: 1e-12 against the reference (the kernels reorder sums),
1e-6 against central finite differences.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba.core.runtime import _nrt_python, rtsys

from crpsgd.kernels import logistic as K

TOL = {"rtol": 1e-12, "atol": 1e-12}


# --------------------------------------------------------------------------- reference


def ref_coef(m: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``-y sigmoid(-m)``, with ``sigmoid(-m) = exp(-log(1 + exp(m)))``."""
    return -y * np.exp(-np.logaddexp(0.0, m))


def ref_minibatch_grad(A: np.ndarray, y: np.ndarray, x, idx, lam: float) -> np.ndarray:
    Ab, yb = A[idx], y[idx]
    return Ab.T @ ref_coef(yb * (Ab @ x), yb) / len(idx) + lam * x


def ref_loss_grad_sum(A: np.ndarray, y: np.ndarray, x) -> tuple[float, np.ndarray]:
    m = y * (A @ x)
    return float(np.logaddexp(0.0, -m).sum()), A.T @ ref_coef(m, y)


def to_csr(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays of the kernel layout (indptr int64, indices int32, data float64)."""
    mask = A != 0.0
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int64)
    indices = np.nonzero(mask)[1].astype(np.int32)  # row-major: increasing within a row
    return indptr, indices, np.ascontiguousarray(A[mask])


def make_data(n: int, d: int, density: float, seed: int, scale: float = 1.0):
    """Rows with about ``density`` non-zeros (some rows empty), labels +-1, a point ``x``."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d)) * (rng.random((n, d)) < density)
    if n > 2:
        A[1] = 0.0  # an empty row
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    x = scale * rng.standard_normal(d)
    return np.ascontiguousarray(A), y, x, rng


@pytest.fixture(scope="module")
def problem():
    return make_data(n=60, d=17, density=0.3, seed=1)


def idx_cases(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "sorted_random": np.sort(rng.integers(0, n, size=40)),
        "unsorted_random": rng.integers(0, n, size=25),
        "repeated": np.array([3, 3, 3, 7, 7]),
        "single": np.array([5]),
        "empty_row": np.array([1]),
        "all_rows": np.arange(n),
        # many runs of repeats, more distinct rows than one block holds, and runs that are
        # split by a block boundary or not adjacent (unsorted)
        "sorted_many_repeats": np.sort(rng.integers(0, n, size=6 * n)),
        "unsorted_repeats": np.repeat(rng.permutation(n)[:20], rng.integers(1, 5, size=20)),
        "long_run": np.array([4] * 50 + [6] * 3 + [4] * 7),
    }


# --------------------------------------------------------------------------- minibatch gradient


@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_minibatch_grad_matches_reference_dense_and_csr(problem, lam):
    A, y, x, rng = problem
    indptr, indices, data = to_csr(A)
    for name, idx in idx_cases(A.shape[0], rng).items():
        idx = idx.astype(np.int64)
        expected = ref_minibatch_grad(A, y, x, idx, lam)
        dense = np.full(A.shape[1], np.nan)  # kernels must not read what is in `out`
        csr = np.full(A.shape[1], np.nan)
        assert K.logistic_minibatch_grad_dense(A, y, x, idx, lam, dense) is None
        K.logistic_minibatch_grad_csr(indptr, indices, data, y, x, idx, lam, csr)
        np.testing.assert_allclose(dense, expected, **TOL, err_msg=name)
        np.testing.assert_allclose(csr, expected, **TOL, err_msg=name)
        np.testing.assert_allclose(dense, csr, **TOL, err_msg=name)


def test_minibatch_grad_of_repeats_is_weighted_average(problem):
    A, y, x, _ = problem
    lam, out_a, out_b = 0.1, np.empty(A.shape[1]), np.empty(A.shape[1])
    K.logistic_minibatch_grad_dense(A, y, x, np.array([2, 2, 2, 9]), lam, out_a)
    K.logistic_minibatch_grad_dense(A, y, x, np.array([2]), lam, out_b)
    g2 = out_b.copy()
    K.logistic_minibatch_grad_dense(A, y, x, np.array([9]), lam, out_b)
    np.testing.assert_allclose(out_a, 0.75 * g2 + 0.25 * out_b, **TOL)


def test_minibatch_grad_wide_rows_use_every_column():
    # d = 37 and 256 exercise the vectorised loop bodies and their remainders.
    for d in (37, 256):
        A, y, x, rng = make_data(n=30, d=d, density=1.0, seed=d, scale=0.2)
        idx = np.sort(rng.integers(0, 30, size=23))
        out = np.empty(d)
        K.logistic_minibatch_grad_dense(A, y, x, idx, 1e-3, out)
        np.testing.assert_allclose(out, ref_minibatch_grad(A, y, x, idx, 1e-3), **TOL)


@pytest.fixture
def nrt_stats():
    """Numba's allocation counters, switched on for the test (they are off by default)."""
    was_enabled = _nrt_python.memsys_stats_enabled()
    _nrt_python.memsys_enable_stats()
    yield rtsys.get_allocation_stats
    if not was_enabled:
        _nrt_python.memsys_disable_stats()


@numba.njit
def _repeat_minibatch_grads(A, y, x, indptr, indices, data, idx, out, reps):
    for _ in range(reps):
        K.logistic_minibatch_grad_dense(A, y, x, idx, 0.1, out)
        K.logistic_minibatch_grad_csr(indptr, indices, data, y, x, idx, 0.1, out)


@pytest.mark.parametrize("batch", [11, 3000])
def test_minibatch_grad_allocates_nothing(problem, nrt_stats, batch):
    """Calling from Python allocates one wrapper per array argument; the kernels themselves
    allocate nothing (their block scratch is on the stack), so 1 and 5 calls inside a jitted
    loop cost the same allocations, whatever the batch size."""
    A, y, x, rng = problem
    idx = np.sort(rng.integers(0, A.shape[0], size=batch))
    args = (A, y, x, *to_csr(A), idx, np.empty(17))
    _repeat_minibatch_grads(*args, 1)  # compile
    counts = []
    for reps in (1, 5):
        before = nrt_stats()
        _repeat_minibatch_grads(*args, reps)
        counts.append(nrt_stats().alloc - before.alloc)
    assert counts[0] == counts[1]


# --------------------------------------------------------------------------- full-shard sums


@pytest.mark.parametrize("scale", [0.1, 1.0, 30.0])
def test_loss_grad_sums_match_reference(scale):
    A, y, x, _ = make_data(n=50, d=13, density=0.4, seed=2, scale=scale)
    indptr, indices, data = to_csr(A)
    loss_ref, grad_ref = ref_loss_grad_sum(A, y, x)
    g_dense, g_csr = np.full(13, np.nan), np.full(13, np.nan)
    loss_dense = K.logistic_loss_grad_sum_dense(A, y, x, g_dense)
    loss_csr = K.logistic_loss_grad_sum_csr(indptr, indices, data, y, x, g_csr)
    for loss in (
        loss_dense,
        loss_csr,
        K.logistic_loss_sum_dense(A, y, x),
        K.logistic_loss_sum_csr(indptr, indices, data, y, x),
    ):
        assert loss == pytest.approx(loss_ref, rel=1e-12)
    np.testing.assert_allclose(g_dense, grad_ref, **TOL)
    np.testing.assert_allclose(g_csr, grad_ref, **TOL)


def test_sums_add_up_over_shards(problem):
    """What the caller relies on: sums over row blocks (ranks) add to the sum over all rows."""
    A, y, x, _ = problem
    g_all, g_lo, g_hi = np.empty(17), np.empty(17), np.empty(17)
    total = K.logistic_loss_grad_sum_dense(A, y, x, g_all)
    lo = K.logistic_loss_grad_sum_dense(A[:23], y[:23], x, g_lo)
    hi = K.logistic_loss_grad_sum_dense(A[23:], y[23:], x, g_hi)
    assert lo + hi == pytest.approx(total, rel=1e-12)
    np.testing.assert_allclose(g_lo + g_hi, g_all, **TOL)


def test_empty_shard():
    A = np.zeros((0, 4))
    indptr, indices, data = to_csr(A)
    y, x, g = np.zeros(0), np.ones(4), np.full(4, np.nan)
    assert K.logistic_loss_grad_sum_dense(A, y, x, g) == 0.0
    np.testing.assert_array_equal(g, 0.0)
    assert K.logistic_loss_grad_sum_csr(indptr, indices, data, y, x, g) == 0.0
    assert K.max_row_sq_norm_dense(A) == 0.0
    assert K.max_row_sq_norm_csr(indptr, data) == 0.0


# --------------------------------------------------------------------------- finite differences


def central_diff(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.empty_like(x)
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        g[j] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("lam", [0.0, 0.05])
def test_full_gradient_matches_finite_differences(problem, lam):
    A, y, x, _ = problem
    indptr, indices, data = to_csr(A)
    n = A.shape[0]

    def objective(z):
        return K.logistic_loss_sum_csr(indptr, indices, data, y, z) / n + 0.5 * lam * z @ z

    grad = np.empty_like(x)
    K.logistic_loss_grad_sum_dense(A, y, x, grad)
    np.testing.assert_allclose(grad / n + lam * x, central_diff(objective, x), rtol=1e-6, atol=1e-8)


def test_minibatch_gradient_matches_finite_differences(problem):
    A, y, x, rng = problem
    lam, idx = 0.2, np.sort(rng.integers(0, A.shape[0], size=9))
    Ab, yb = np.ascontiguousarray(A[idx]), y[idx]  # repeats included, as in the kernel

    def objective(z):
        return K.logistic_loss_sum_dense(Ab, yb, z) / len(idx) + 0.5 * lam * z @ z

    out = np.empty_like(x)
    K.logistic_minibatch_grad_dense(A, y, x, idx, lam, out)
    np.testing.assert_allclose(out, central_diff(objective, x), rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------- extreme margins


def test_extreme_margins_are_finite_and_exact():
    margins = np.array([1e3, -1e3, 1e4, -1e4, 1e5, -1e5, 745.0, -745.0, 36.0, -36.0, 0.0])
    n = margins.size
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    # Row i is (y_i m_i) e_0 + tiny noise in column 1, x = e_0: margin exactly m_i.
    A = np.zeros((n, 2))
    A[:, 0] = y * margins
    A[:, 1] = 1e-3
    x = np.array([1.0, 0.0])
    indptr, indices, data = to_csr(A)

    loss_ref = np.logaddexp(0.0, -margins)
    grad_ref = A.T @ ref_coef(margins, y)
    g_dense, g_csr = np.empty(2), np.empty(2)
    loss = K.logistic_loss_grad_sum_dense(A, y, x, g_dense)
    assert np.isfinite(loss) and loss == pytest.approx(loss_ref.sum(), rel=1e-12)
    assert K.logistic_loss_grad_sum_csr(indptr, indices, data, y, x, g_csr) == loss
    assert np.all(np.isfinite(g_dense))
    np.testing.assert_allclose(g_dense, grad_ref, **TOL)
    np.testing.assert_allclose(g_csr, grad_ref, **TOL)
    for i in range(n):
        row = np.array([i])
        assert K.logistic_loss_sum_dense(A[row], y[row], x) == pytest.approx(loss_ref[i], 1e-12)
        out = np.empty(2)
        K.logistic_minibatch_grad_dense(A, y, x, row, 0.0, out)
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out, ref_minibatch_grad(A, y, x, row, 0.0), **TOL)
    # m = -1e4: the gradient is exactly -y a; m = +1e4: exactly 0 (exp(-1e4) underflows).
    K.logistic_minibatch_grad_dense(A, y, x, np.array([3]), 0.0, out)
    np.testing.assert_array_equal(out, -y[3] * A[3])
    K.logistic_minibatch_grad_dense(A, y, x, np.array([2]), 0.0, out)
    np.testing.assert_array_equal(out, 0.0)


def test_scalar_helpers():
    ts = np.array([-1e5, -745.0, -40.0, -1.0, -1e-20, 0.0, 1e-20, 1.0, 40.0, 745.0, 1e5])
    for t in ts:
        assert K.log1pexp(t) == pytest.approx(np.logaddexp(0.0, t), rel=1e-15, abs=1e-300)
        loss, coef = K.logistic_loss_and_coef(t, -1.0)
        assert loss == pytest.approx(np.logaddexp(0.0, -t), rel=1e-15, abs=1e-300)
        assert coef == pytest.approx(np.exp(-np.logaddexp(0.0, t)), rel=1e-14, abs=1e-300)


# --------------------------------------------------------------------------- smoothness


def test_max_row_sq_norm(problem):
    A, _, _, _ = problem
    indptr, _, data = to_csr(A)
    expected = float((A * A).sum(axis=1).max())
    assert K.max_row_sq_norm_dense(A) == pytest.approx(expected, rel=1e-14)
    assert K.max_row_sq_norm_csr(indptr, data) == pytest.approx(expected, rel=1e-14)
    assert K.smoothness_constant(expected, 0.5) == 0.5 + expected / 4


# --------------------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 12),
    d=st.integers(1, 20),
    density=st.sampled_from([0.0, 0.2, 1.0]),
    batch=st.integers(1, 30),
    lam=st.sampled_from([0.0, 1e-3, 1.0]),
    scale=st.sampled_from([1e-3, 1.0, 1e3]),
)
def test_property_dense_csr_reference_agree(seed, n, d, density, batch, lam, scale):
    A, y, x, rng = make_data(n, d, density, seed, scale)
    indptr, indices, data = to_csr(A)
    idx = rng.integers(0, n, size=batch)
    expected = ref_minibatch_grad(A, y, x, idx, lam)
    dense, csr, shuffled = np.empty(d), np.empty(d), np.empty(d)
    K.logistic_minibatch_grad_dense(A, y, x, idx, lam, dense)
    K.logistic_minibatch_grad_csr(indptr, indices, data, y, x, np.sort(idx), lam, csr)
    K.logistic_minibatch_grad_dense(A, y, x, rng.permutation(idx), lam, shuffled)
    for got in (dense, csr, shuffled):  # order of the rows does not matter
        np.testing.assert_allclose(got, expected, **TOL)
