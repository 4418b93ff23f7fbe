"""Full-shard sums of logistic regression (evaluation, ``f*``), the row-norm bounds of its
smoothness constant and the curvature weights of its Hessian, dense and CSR; see
:mod:`crpsgd.kernels.logistic`."""

from __future__ import annotations

import numba

from crpsgd.kernels.elementary import exp
from crpsgd.kernels.fixed_order import sq_norm_dense_row
from crpsgd.kernels.logistic_rows import (
    _JIT,
    _dot_csr_row,
    _dot_dense_row,
    log1pexp,
    logistic_loss_and_coef,
)

# --------------------------------------------------------------------------- full-shard sums


@numba.njit(**_JIT)
def logistic_loss_grad_sum_dense(X, y, x, grad_out):
    """Sums over all rows of the shard, without ``1/n`` and without the regulariser.

    Returns ``sum_i log(1 + exp(-m_i))`` (nats) and writes ``grad_out = sum_i c_i a_i``.
    The caller adds the sums across ranks, divides by ``n`` and adds ``lam/2 ||x||^2``, ``lam x``.
    """
    d = X.shape[1]
    grad_out[:] = 0.0
    loss = 0.0
    for i in range(X.shape[0]):
        li, c = logistic_loss_and_coef(y[i] * _dot_dense_row(X, i, x), y[i])
        loss += li
        for j in range(d):
            grad_out[j] += c * X[i, j]
    return loss


@numba.njit(**_JIT)
def logistic_loss_grad_sum_csr(indptr, indices, data, y, x, grad_out):
    """CSR version of :func:`logistic_loss_grad_sum_dense`."""
    grad_out[:] = 0.0
    loss = 0.0
    for i in range(indptr.shape[0] - 1):
        li, c = logistic_loss_and_coef(y[i] * _dot_csr_row(indptr, indices, data, i, x), y[i])
        loss += li
        for p in range(indptr[i], indptr[i + 1]):
            grad_out[indices[p]] += c * data[p]
    return loss


@numba.njit(**_JIT)
def logistic_loss_sum_dense(X, y, x):
    """``sum_i log(1 + exp(-y_i a_i.x))`` over all rows (nats; no ``1/n``, no regulariser)."""
    loss = 0.0
    for i in range(X.shape[0]):
        loss += log1pexp(-y[i] * _dot_dense_row(X, i, x))
    return loss


@numba.njit(**_JIT)
def logistic_loss_sum_csr(indptr, indices, data, y, x):
    """CSR version of :func:`logistic_loss_sum_dense`."""
    loss = 0.0
    for i in range(indptr.shape[0] - 1):
        loss += log1pexp(-y[i] * _dot_csr_row(indptr, indices, data, i, x))
    return loss


# --------------------------------------------------------------------------- smoothness


@numba.njit(**_JIT)
def max_row_sq_norm_dense(X):
    """``max_i ||a_i||^2`` over the rows of ``X`` (0.0 for no rows)."""
    best = 0.0
    for i in range(X.shape[0]):
        best = max(best, sq_norm_dense_row(X, i))
    return best


@numba.njit(**_JIT)
def max_row_sq_norm_csr(indptr, data):
    """``max_i ||a_i||^2`` over CSR rows (0.0 for no rows or only empty rows)."""
    best = 0.0
    for i in range(indptr.shape[0] - 1):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            s += data[p] * data[p]
        best = max(best, s)
    return best


def smoothness_constant(max_row_sq_norm: float, lam: float) -> float:
    """``L = lam + max_i ||a_i||^2 / 4``: the per-sample gradient Lipschitz constant.

    Each ``F(.; i)`` has Hessian ``sigmoid'(m) a_i a_i^T + lam I`` with ``sigmoid' <= 1/4``.
    Take the maximum over all ranks' shards before calling this.
    """
    return float(lam) + float(max_row_sq_norm) / 4.0


# --------------------------------------------------------------------------- curvature


@numba.njit(**_JIT)
def _curvature(m: float) -> float:
    """``sigmoid(m) sigmoid(-m) = e / (1 + e)^2`` with ``e = exp(-|m|)`` (no overflow)."""
    e = exp(-abs(m))
    t = 1.0 / (1.0 + e)
    return e * t * t


@numba.njit(**_JIT)
def logistic_curvature_weights_dense(X, y, x, w_out):
    """``w_out[i] = sigmoid(m_i) sigmoid(-m_i)``, ``m_i = y_i a_i.x``: the weight of
    ``a_i a_i^T`` in the Hessian of the loss (for the Newton solve of ``f*``)."""
    for i in range(X.shape[0]):
        w_out[i] = _curvature(y[i] * _dot_dense_row(X, i, x))


@numba.njit(**_JIT)
def logistic_curvature_weights_csr(indptr, indices, data, y, x, w_out):
    """CSR version of :func:`logistic_curvature_weights_dense`."""
    for i in range(indptr.shape[0] - 1):
        w_out[i] = _curvature(y[i] * _dot_csr_row(indptr, indices, data, i, x))
