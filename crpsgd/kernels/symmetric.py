"""Symmetric matrices in a fixed order of operations: weighted Gram matrices, a Cholesky solve
and the largest eigenvalue, the same bits on every x86-64 processor.

These replace BLAS and LAPACK (whose kernels, and so whose results' last bits, depend on the
processor) where a result is logged: the smoothness constant ``L`` from the spectral bound and
the Newton solve of ``f*``. Every sum runs in the order written here, without ``fastmath``;
inner products use the lane order of :mod:`crpsgd.kernels.fixed_order`.

* :func:`weighted_gram_dense`, :func:`weighted_gram_csr`: ``G = sum_i w_i a_i a_i^T`` over
  the rows in order (each entry ``G[j, k]`` adds its terms row by row), symmetric.
* :func:`cholesky_solve`: ``A z = b`` for symmetric positive definite ``A`` (``A = L L^T``,
  row by row, then two triangular solves).
* :func:`largest_eigenvalue`: Householder reduction to a tridiagonal matrix (backward
  stable, as LAPACK's ``dsytrd``), then bisection on Sturm counts down to adjacent floats.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from crpsgd.kernels.fixed_order import dot

__all__ = ["weighted_gram_dense", "weighted_gram_csr", "cholesky_solve", "largest_eigenvalue"]

_JIT = {"cache": True, "nogil": True}


@numba.njit(inline="always")
def _mirror_upper(out):
    d = out.shape[0]
    for j in range(d):
        for k in range(j + 1, d):
            out[k, j] = out[j, k]


@numba.njit(**_JIT)
def weighted_gram_dense(X: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
    """``out = sum_i w_i X[i]^T X[i]`` (``(d, d)``, overwritten) over the rows in order."""
    d = X.shape[1]
    out[:, :] = 0.0
    for i in range(X.shape[0]):
        wi = w[i]
        for j in range(d):
            a = wi * X[i, j]
            if a != 0.0:
                for k in range(j, d):
                    out[j, k] += a * X[i, k]
    _mirror_upper(out)


@numba.njit(**_JIT)
def weighted_gram_csr(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, w: np.ndarray, out: np.ndarray
) -> None:
    """CSR version of :func:`weighted_gram_dense` (a row's column numbers increasing)."""
    out[:, :] = 0.0
    for i in range(indptr.shape[0] - 1):
        wi = w[i]
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            a = wi * data[p]
            for q in range(indptr[i], indptr[i + 1]):
                k = indices[q]
                if k >= j:
                    out[j, k] += a * data[q]
    _mirror_upper(out)


@numba.njit(**_JIT)
def cholesky_solve(A: np.ndarray, b: np.ndarray, out: np.ndarray) -> bool:
    """``out = A^-1 b`` for symmetric positive definite ``A`` (lower triangle read); False
    (``out`` undefined) when a pivot is not positive."""
    d = A.shape[0]
    low = np.zeros((d, d))
    for i in range(d):
        for j in range(i + 1):
            s = A[i, j] - dot(low[i, :j], low[j, :j])
            if i == j:
                if not s > 0.0:
                    return False
                low[i, i] = math.sqrt(s)
            else:
                low[i, j] = s / low[j, j]
    for i in range(d):  # L z = b
        out[i] = (b[i] - dot(low[i, :i], out[:i])) / low[i, i]
    for i in range(d - 1, -1, -1):  # L^T out = z
        s = out[i]
        for k in range(i + 1, d):
            s -= low[k, i] * out[k]
        out[i] = s / low[i, i]
    return True


@numba.njit(**_JIT)
def _tridiagonal(A, diag, off):
    """Householder reduction of symmetric ``A`` (overwritten) to ``diag``, ``off``."""
    d = A.shape[0]
    v = np.empty(d)
    p = np.empty(d)
    for k in range(d - 2):
        m = d - k - 1
        col = A[k + 1 :, k].copy()
        norm = math.sqrt(dot(col, col))
        if norm == 0.0:
            off[k] = 0.0
            continue
        alpha = -norm if col[0] >= 0.0 else norm
        vk = v[:m]
        vk[:] = col
        vk[0] -= alpha
        vnorm2 = dot(vk, vk)
        off[k] = alpha
        if vnorm2 == 0.0:
            continue
        sub = A[k + 1 :, k + 1 :]
        pk = p[:m]
        scale = 2.0 / vnorm2
        for i in range(m):
            pk[i] = scale * dot(sub[i], vk)
        kk = 0.5 * scale * dot(vk, pk)
        for i in range(m):
            pk[i] -= kk * vk[i]
        for i in range(m):
            for j in range(m):
                sub[i, j] -= vk[i] * pk[j] + pk[i] * vk[j]
    for i in range(d):
        diag[i] = A[i, i]
    if d >= 2:
        off[d - 2] = A[d - 1, d - 2]


@numba.njit(**_JIT)
def _count_below(diag, off, x):
    """How many eigenvalues of the tridiagonal matrix are below ``x`` (Sturm count)."""
    count = 0
    q = 1.0
    for i in range(diag.shape[0]):
        e2 = off[i - 1] * off[i - 1] if i > 0 else 0.0
        q = diag[i] - x - (e2 / q if i > 0 else 0.0)
        if q == 0.0:
            q = -1e-300
        if q < 0.0:
            count += 1
    return count


@numba.njit(**_JIT)
def largest_eigenvalue(A: np.ndarray) -> float:
    """The largest eigenvalue of symmetric ``A`` (``(d, d)``, ``d >= 1``; not modified)."""
    d = A.shape[0]
    work = A.copy()
    diag = np.empty(d)
    off = np.zeros(max(d - 1, 1))
    _tridiagonal(work, diag, off)
    lo, hi = math.inf, -math.inf
    for i in range(d):  # Gershgorin bounds
        r = (abs(off[i - 1]) if i > 0 else 0.0) + (abs(off[i]) if i < d - 1 else 0.0)
        lo = min(lo, diag[i] - r)
        hi = max(hi, diag[i] + r)
    while True:
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            return hi
        if _count_below(diag, off, mid) == d:
            hi = mid
        else:
            lo = mid
