"""The fixed-order reductions, elementary functions and symmetric-matrix kernels against plain
references: the lane sum of ``crpsgd.kernels.fixed_order`` computed in Python floats, the C
library's ``exp``/``log``/... and NumPy/LAPACK."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from crpsgd.kernels import elementary, fixed_order, symmetric
from crpsgd.kernels.logistic_minibatch import _dense_block_margins
from crpsgd.kernels.logistic_rows import _dot_dense_row

SIZES = [0, 1, 7, 8, 9, 15, 16, 17, 50, 123, 1001]


def exact_fma(a: float, b: float, c: float) -> float:
    """``a b + c`` rounded once (exact rationals; ``float(Fraction)`` rounds correctly)."""
    return float(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))


def lane_sum(a, b) -> float:
    """The documented order: lane ``l`` adds terms ``l, l + 8, ...`` of the first
    ``8 floor(n/8)`` by fused multiply-adds, lanes combined pairwise, the rest added one by
    one (fused too)."""
    n = len(a)
    full = n - n % 8
    acc = [0.0] * 8
    for j in range(0, full, 8):
        for lane in range(8):
            acc[lane] = exact_fma(a[j + lane], b[j + lane], acc[lane])
    s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
    for j in range(full, n):
        s = exact_fma(a[j], b[j], s)
    return s


def _ulps(a: float, b: float) -> int:
    return abs(int(np.float64(a).view(np.int64)) - int(np.float64(b).view(np.int64)))


@pytest.mark.parametrize("n", SIZES)
def test_dot_and_sq_norm_follow_the_lane_order_exactly(n):
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, size=n)
    b = rng.standard_normal(n)
    assert fixed_order.dot(a, b) == lane_sum(a, b)
    assert fixed_order.sq_norm(a) == lane_sum(a, a)


@pytest.mark.parametrize("n", SIZES)
def test_strided_arrays_take_the_scalar_lanes_with_the_same_bits(n):
    rng = np.random.default_rng(100 + n)
    a = rng.standard_normal(2 * n)[::2]  # not contiguous: the scalar path
    b = rng.standard_normal(n)
    assert not a.flags.c_contiguous or n <= 1
    assert fixed_order.dot(a, b) == fixed_order.dot(np.ascontiguousarray(a), b)
    assert fixed_order.sq_norm(a) == lane_sum(a, a)


@pytest.mark.parametrize("d", [1, 7, 8, 9, 50, 123, 256])
def test_dense_rows_block_of_eight_and_matvec_equal_the_lane_sum(d):
    rng = np.random.default_rng(d)
    X = rng.standard_normal((40, d))
    x = rng.standard_normal(d)
    rows = np.sort(rng.integers(0, 40, 8)).astype(np.int64)
    margins = np.empty(8)
    _dense_block_margins(X, rows, x, margins)
    for r in range(8):
        assert margins[r] == lane_sum(X[rows[r]], x) == _dot_dense_row(X, rows[r], x)
    out = np.empty(40)
    fixed_order.matvec_dense(X, x, out)
    assert all(out[i] == lane_sum(X[i], x) for i in range(40))


CASES = [
    ("exp", elementary.exp, math.exp, (-745.0, 709.0), 1),
    ("exp near 0", elementary.exp, math.exp, (-1.0, 1.0), 1),
    ("log", elementary.log, math.log, (1e-300, 1e300), 1),
    ("log1p", elementary.log1p, math.log1p, (-0.999, 1.0), 2),
    ("log1p small", elementary.log1p, math.log1p, (-1e-6, 1e-6), 2),
    ("expm1", elementary.expm1, math.expm1, (-5.0, 5.0), 3),
    ("expm1 small", elementary.expm1, math.expm1, (-1e-4, 1e-4), 3),
    ("tanh", elementary.tanh, math.tanh, (-25.0, 25.0), 3),
    ("tanh small", elementary.tanh, math.tanh, (-0.1, 0.1), 4),
]


@pytest.mark.parametrize("name, ours, libm, interval, max_ulps", CASES, ids=[c[0] for c in CASES])
def test_elementary_functions_are_within_a_few_ulps_of_the_c_library(
    name, ours, libm, interval, max_ulps
):
    rng = np.random.default_rng(7)
    lo, hi = interval
    if name == "log":
        values = np.exp(rng.uniform(math.log(lo), math.log(hi), 4000))
    else:
        values = rng.uniform(lo, hi, 4000)
    worst = max(_ulps(ours(float(v)), libm(float(v))) for v in values)
    assert worst <= max_ulps, f"{name}: {worst} ulps"


def test_elementary_functions_at_the_edges():
    e = elementary
    assert e.exp(0.0) == 1.0 and e.exp(-math.inf) == 0.0 and e.exp(math.inf) == math.inf
    assert e.exp(710.0) == math.inf and e.exp(-746.0) == 0.0 and e.exp(-745.0) == 5e-324
    assert math.isnan(e.exp(math.nan)) and math.isnan(e.log(-1.0)) and math.isnan(e.tanh(math.nan))
    assert e.log(0.0) == -math.inf and e.log(1.0) == 0.0 and e.log(math.inf) == math.inf
    assert _ulps(e.log(5e-324), math.log(5e-324)) <= 1
    assert e.log1p(0.0) == 0.0 and e.log1p(-1.0) == -math.inf and e.log1p(1e-300) == 1e-300
    assert e.expm1(1e-300) == 1e-300 and e.expm1(-800.0) == -1.0 and e.expm1(800.0) == math.inf
    assert e.tanh(30.0) == 1.0 and e.tanh(-30.0) == -1.0 and e.tanh(1e-30) == 1e-30
    assert math.copysign(1.0, e.tanh(-0.0)) == -1.0


@pytest.mark.parametrize("d", [1, 2, 3, 10, 123])
def test_symmetric_kernels_against_lapack(d):
    rng = np.random.default_rng(d)
    B = rng.standard_normal((d + 5, d))
    w = rng.uniform(0.0, 1.0, d + 5)
    gram = np.empty((d, d))
    symmetric.weighted_gram_dense(B, w, gram)
    np.testing.assert_allclose(gram, (B.T * w) @ B, rtol=1e-12, atol=1e-12)
    assert np.array_equal(gram, gram.T)
    A = gram / d + 1e-3 * np.eye(d)
    top = np.linalg.eigvalsh(A)[-1]
    assert symmetric.largest_eigenvalue(A) == pytest.approx(top, rel=1e-13)
    b = rng.standard_normal(d)
    z = np.empty(d)
    assert symmetric.cholesky_solve(A, b, z)
    np.testing.assert_allclose(z, np.linalg.solve(A, b), rtol=1e-9)
    assert not symmetric.cholesky_solve(-A, b, z)  # not positive definite


def test_weighted_gram_csr_equals_the_dense_one():
    sp = pytest.importorskip("scipy.sparse")
    M = sp.random(200, 40, density=0.2, random_state=1, format="csr")
    w = np.random.default_rng(0).uniform(0.0, 1.0, 200)
    sparse, dense = np.empty((40, 40)), np.empty((40, 40))
    symmetric.weighted_gram_csr(M.indptr.astype(np.int64), M.indices, M.data, w, sparse)
    symmetric.weighted_gram_dense(np.ascontiguousarray(M.toarray()), w, dense)
    np.testing.assert_allclose(sparse, dense, rtol=1e-13, atol=1e-14)


def test_largest_eigenvalue_with_repeated_and_clustered_eigenvalues():
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    eig = np.concatenate([np.full(10, 2.0), np.linspace(0.1, 1.999999, 20)])
    A = (q * eig) @ q.T
    A = 0.5 * (A + A.T)
    assert symmetric.largest_eigenvalue(A) == pytest.approx(2.0, rel=1e-13)
    assert symmetric.largest_eigenvalue(np.eye(5) * 3.0) == 3.0
