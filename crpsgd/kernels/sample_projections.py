"""Numba kernels for the within-worker variance of the gradient along one direction ``u``.

For the logistic loss the per-sample data gradient is ``c_j a_j`` with
``c_j = -y_j sigmoid(-m_j)`` and ``m_j = y_j a_j^T x`` (see :mod:`crpsgd.kernels.sample_norms`),
so its projection on ``u`` is ``p_j = c_j (a_j^T u)``. The kernels return ``sum_j p_j`` and
``sum_j p_j^2`` over a minibatch (a row drawn ``k`` times counts ``k`` times); from them
:func:`crpsgd.schedules.inner_product.sample_along` forms the sample variance of the projections.
One pass over the sampled rows, nothing written but the two scalars; dense rows are summed in the
fixed lane order of :mod:`crpsgd.kernels.fixed_order`, CSR rows in the order of their entries.
"""

from __future__ import annotations

import numba

from crpsgd.kernels.elementary import exp
from crpsgd.kernels.fixed_order import dot_dense_row

__all__ = ["logistic_projection_sums_dense", "logistic_projection_sums_csr"]

_JIT = {"cache": True, "nogil": True}


@numba.njit(**_JIT)
def _coef(y: float, m: float) -> float:
    """``c = -y sigmoid(-m)`` for label ``y`` and margin ``m``, from ``exp(-|m|)``."""
    e = exp(-abs(m))
    s = e / (1.0 + e) if m >= 0.0 else 1.0 / (1.0 + e)
    return -y * s


@numba.njit(**_JIT)
def logistic_projection_sums_dense(X, y, x, u, idx) -> tuple[float, float]:
    """``(sum_j p_j, sum_j p_j^2)`` with ``p_j = c_j a_j^T u`` over rows ``idx`` of dense ``X``."""
    s1 = 0.0
    s2 = 0.0
    for k in range(idx.shape[0]):
        i = idx[k]
        p = _coef(y[i], y[i] * dot_dense_row(X, i, x)) * dot_dense_row(X, i, u)
        s1 += p
        s2 += p * p
    return s1, s2


@numba.njit(**_JIT)
def logistic_projection_sums_csr(indptr, indices, data, y, x, u, idx) -> tuple[float, float]:
    """``(sum_j p_j, sum_j p_j^2)`` with ``p_j = c_j a_j^T u`` over CSR rows ``idx``."""
    s1 = 0.0
    s2 = 0.0
    for k in range(idx.shape[0]):
        i = idx[k]
        mx = 0.0
        mu = 0.0
        for q in range(indptr[i], indptr[i + 1]):
            v = data[q]
            mx += v * x[indices[q]]
            mu += v * u[indices[q]]
        p = _coef(y[i], y[i] * mx) * mu
        s1 += p
        s2 += p * p
    return s1, s2
