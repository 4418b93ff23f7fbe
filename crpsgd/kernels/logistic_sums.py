"""Full-shard sums of logistic regression (evaluation, ``f*``) and the row-norm bounds of
its smoothness constant, dense and CSR; see :mod:`crpsgd.kernels.logistic`."""

from __future__ import annotations

import numba

from crpsgd.kernels.logistic_rows import (
    _FASTMATH,
    _JIT,
    _dot_csr_row,
    _dot_dense_row,
    log1pexp,
    logistic_loss_and_coef,
)

# --------------------------------------------------------------------------- full-shard sums


@numba.njit(fastmath=_FASTMATH, **_JIT)
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


@numba.njit(fastmath=_FASTMATH, **_JIT)
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


@numba.njit(fastmath=_FASTMATH, **_JIT)
def max_row_sq_norm_dense(X):
    """``max_i ||a_i||^2`` over the rows of ``X`` (0.0 for no rows)."""
    best = 0.0
    for i in range(X.shape[0]):
        s = 0.0
        for j in range(X.shape[1]):
            s += X[i, j] * X[i, j]
        best = max(best, s)
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
