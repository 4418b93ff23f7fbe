"""Numba kernels for the within-worker gradient variance of the logistic loss.

For the logistic loss the per-sample data gradient is ``c_j a_j`` with
``c_j = -y_j sigmoid(-m_j)``, ``m_j = y_j a_j^T x`` (see :mod:`crpsgd.kernels.logistic`), so
``||grad F(x; j) - grad r(x)||^2 = c_j^2 ||a_j||^2``. The sum of these over a minibatch and the
squared norm of the minibatch's mean data gradient give the minibatch's sample variance
(:func:`crpsgd.schedules.sample_noise.sample_trace`) without forming any per-sample gradient.

Each kernel makes one pass over the sampled rows (margin and squared norm in the same loop),
counting a row drawn ``k`` times ``k`` times, and writes nothing but its scalar result. The
layouts are those of :mod:`crpsgd.kernels.logistic` (``idx`` int64, sorted or not); the
dense kernel sums each row in the fixed lane order of :mod:`crpsgd.kernels.fixed_order` (the
same bits on every processor), the CSR kernel in the order of the row's entries.
"""

from __future__ import annotations

import numba

from crpsgd.kernels.elementary import exp
from crpsgd.kernels.fixed_order import dot_dense_row, sq_norm_dense_row

__all__ = ["logistic_coef_sq_norm_sum_dense", "logistic_coef_sq_norm_sum_csr"]

_JIT = {"cache": True, "nogil": True}


@numba.njit(**_JIT)
def _coef_sq(m: float) -> float:
    """``sigmoid(-m)^2`` for margin ``m``, from ``exp(-|m|)`` (no overflow)."""
    e = exp(-abs(m))
    s = e / (1.0 + e) if m >= 0.0 else 1.0 / (1.0 + e)
    return s * s


@numba.njit(**_JIT)
def logistic_coef_sq_norm_sum_dense(X, y, x, idx) -> float:
    """``sum_{j in idx} c_j^2 ||a_j||^2`` over rows of dense ``X``; ``c_j^2 = sigmoid(-m_j)^2``."""
    total = 0.0
    for k in range(idx.shape[0]):
        i = idx[k]
        total += _coef_sq(y[i] * dot_dense_row(X, i, x)) * sq_norm_dense_row(X, i)
    return total


@numba.njit(**_JIT)
def logistic_coef_sq_norm_sum_csr(indptr, indices, data, y, x, idx) -> float:
    """``sum_{j in idx} c_j^2 ||a_j||^2`` over CSR rows (``c_j^2 = sigmoid(-m_j)^2``)."""
    total = 0.0
    for k in range(idx.shape[0]):
        i = idx[k]
        dot = 0.0
        sq = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            v = data[p]
            dot += v * x[indices[p]]
            sq += v * v
        total += _coef_sq(y[i] * dot) * sq
    return total
