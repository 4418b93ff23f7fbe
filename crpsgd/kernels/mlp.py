"""Numba kernels for a two-layer network (one tanh hidden layer) with the logistic loss.

Model, for a row ``a`` (``d`` features) and ``h`` hidden units, all parameters in one flat
float64 vector ``x`` of length ``m = d h + 2 h + 1`` (see :func:`mlp_dim`)::

    W = x[0 : d h].reshape(d, h)     W[j, k]: weight from input j to hidden unit k
    b = x[d h : d h + h]             hidden biases
    v = x[d h + h : d h + 2 h]       output weights
    c = x[d h + 2 h]                 output bias

    z_k = sum_j a_j W[j, k] + b_k,   u_k = tanh(z_k),   s = sum_k v_k u_k + c   (the score)
    F(x; i) = log(1 + exp(-y_i s))                                              (nats)

Gradient by back-propagation, with ``g = dF/ds = -y sigmoid(-y s)``::

    dF/dc = g,   dF/dv_k = g u_k,   delta_k = g v_k (1 - u_k^2),
    dF/db_k = delta_k,   dF/dW[j, k] = a_j delta_k

``W`` is stored input-major so that one input ``j`` touches the contiguous ``h``-vector
``W[j, :]``: a CSR row costs ``O(nnz h)`` and a dense row ``O(d h)``, both in stride-1 loops.
Layouts of ``X`` / CSR arrays, ``y`` and ``idx`` are those of :mod:`crpsgd.kernels.logistic`.
``work`` is a float64 scratch array of length ``>= 2 h`` supplied by the caller, so the
kernels allocate nothing; single-threaded, GIL released. ``tanh`` is that of
:mod:`crpsgd.kernels.elementary` and every sum runs in the order written here, without
``fastmath``: the same bits on every processor.
"""

from __future__ import annotations

import numba

from crpsgd.kernels.elementary import tanh
from crpsgd.kernels.logistic import logistic_loss_and_coef

__all__ = [
    "mlp_dim",
    "mlp_minibatch_grad_dense",
    "mlp_minibatch_grad_csr",
    "mlp_loss_grad_sum_dense",
    "mlp_loss_grad_sum_csr",
    "mlp_count_correct_dense",
    "mlp_count_correct_csr",
]

_JIT = {"cache": True, "nogil": True}


def mlp_dim(d: int, hidden: int) -> int:
    """Number of parameters ``d h + 2 h + 1`` of the network on ``d`` inputs."""
    return d * hidden + 2 * hidden + 1


# --------------------------------------------------------------------------- one sample


@numba.njit(inline="always")
def _hidden_dense(X, i, x, h, u):
    """``u <- tanh(W^T a_i + b)`` for dense row ``i``; return the score ``s``."""
    d = X.shape[1]
    off_b = d * h
    for k in range(h):
        u[k] = x[off_b + k]
    for j in range(d):
        a = X[i, j]
        if a != 0.0:
            base = j * h
            for k in range(h):
                u[k] += a * x[base + k]
    return _score(x, d * h, h, u)


@numba.njit(inline="always")
def _hidden_csr(indptr, indices, data, i, x, d, h, u):
    """CSR version of :func:`_hidden_dense`."""
    off_b = d * h
    for k in range(h):
        u[k] = x[off_b + k]
    for p in range(indptr[i], indptr[i + 1]):
        a = data[p]
        base = indices[p] * h
        for k in range(h):
            u[k] += a * x[base + k]
    return _score(x, d * h, h, u)


@numba.njit(inline="always")
def _score(x, off_b, h, u):
    """Apply tanh to ``u`` in place and return ``v . u + c``."""
    off_v = off_b + h
    s = x[off_v + h]
    for k in range(h):
        u[k] = tanh(u[k])
        s += x[off_v + k] * u[k]
    return s


@numba.njit(inline="always")
def _backprop_top(x, off_b, h, u, g, scale, out, delta):
    """Add ``scale`` times the gradient of ``b, v, c`` to ``out``; ``delta_k = g v_k (1-u_k^2)``."""
    off_v = off_b + h
    gs = g * scale
    for k in range(h):
        delta[k] = gs * x[off_v + k] * (1.0 - u[k] * u[k])
        out[off_b + k] += delta[k]
        out[off_v + k] += gs * u[k]
    out[off_v + h] += gs


# --------------------------------------------------------------------------- minibatch gradient


@numba.njit(**_JIT)
def mlp_minibatch_grad_dense(X, y, x, idx, h, lam, out, work):
    """``out <- (1/B) sum_{i in idx} grad F(x; i) + lam x`` with ``B = len(idx) >= 1``.

    Repeats in ``idx`` count as often as they occur; ``out`` is overwritten.
    """
    d = X.shape[1]
    off_b = d * h
    u = work[:h]
    delta = work[h : 2 * h]
    out[:] = 0.0
    inv_b = 1.0 / idx.shape[0]
    for t in range(idx.shape[0]):
        i = idx[t]
        s = _hidden_dense(X, i, x, h, u)
        _, g = logistic_loss_and_coef(y[i] * s, y[i])
        _backprop_top(x, off_b, h, u, g, inv_b, out, delta)
        for j in range(d):
            a = X[i, j]
            if a != 0.0:
                base = j * h
                for k in range(h):
                    out[base + k] += a * delta[k]
    for j in range(out.shape[0]):
        out[j] += lam * x[j]


@numba.njit(**_JIT)
def mlp_minibatch_grad_csr(indptr, indices, data, y, x, idx, d, h, lam, out, work):
    """CSR version of :func:`mlp_minibatch_grad_dense` (``d`` input features)."""
    off_b = d * h
    u = work[:h]
    delta = work[h : 2 * h]
    out[:] = 0.0
    inv_b = 1.0 / idx.shape[0]
    for t in range(idx.shape[0]):
        i = idx[t]
        s = _hidden_csr(indptr, indices, data, i, x, d, h, u)
        _, g = logistic_loss_and_coef(y[i] * s, y[i])
        _backprop_top(x, off_b, h, u, g, inv_b, out, delta)
        for p in range(indptr[i], indptr[i + 1]):
            a = data[p]
            base = indices[p] * h
            for k in range(h):
                out[base + k] += a * delta[k]
    for j in range(out.shape[0]):
        out[j] += lam * x[j]


# --------------------------------------------------------------------------- full-shard sums


@numba.njit(**_JIT)
def mlp_loss_grad_sum_dense(X, y, x, h, grad_out, work):
    """Return ``sum_i F(x; i)`` over all rows (nats); ``grad_out <- sum_i grad F(x; i)``.

    No ``1/n`` and no regulariser: the caller sums over ranks, divides and adds them.
    """
    d = X.shape[1]
    off_b = d * h
    u = work[:h]
    delta = work[h : 2 * h]
    grad_out[:] = 0.0
    loss = 0.0
    for i in range(X.shape[0]):
        s = _hidden_dense(X, i, x, h, u)
        li, g = logistic_loss_and_coef(y[i] * s, y[i])
        loss += li
        _backprop_top(x, off_b, h, u, g, 1.0, grad_out, delta)
        for j in range(d):
            a = X[i, j]
            if a != 0.0:
                base = j * h
                for k in range(h):
                    grad_out[base + k] += a * delta[k]
    return loss


@numba.njit(**_JIT)
def mlp_loss_grad_sum_csr(indptr, indices, data, y, x, d, h, grad_out, work):
    """CSR version of :func:`mlp_loss_grad_sum_dense`."""
    off_b = d * h
    u = work[:h]
    delta = work[h : 2 * h]
    grad_out[:] = 0.0
    loss = 0.0
    for i in range(y.shape[0]):
        s = _hidden_csr(indptr, indices, data, i, x, d, h, u)
        li, g = logistic_loss_and_coef(y[i] * s, y[i])
        loss += li
        _backprop_top(x, off_b, h, u, g, 1.0, grad_out, delta)
        for p in range(indptr[i], indptr[i + 1]):
            a = data[p]
            base = indices[p] * h
            for k in range(h):
                grad_out[base + k] += a * delta[k]
    return loss


# --------------------------------------------------------------------------- accuracy


@numba.njit(**_JIT)
def mlp_count_correct_dense(X, y, x, h, work):
    """Rows with ``(s > 0) == (y > 0)``: the network predicts ``+1`` when its score is > 0."""
    correct = 0
    for i in range(X.shape[0]):
        s = _hidden_dense(X, i, x, h, work[:h])
        if (s > 0.0) == (y[i] > 0.0):
            correct += 1
    return correct


@numba.njit(**_JIT)
def mlp_count_correct_csr(indptr, indices, data, y, x, d, h, work):
    """CSR version of :func:`mlp_count_correct_dense`."""
    correct = 0
    for i in range(y.shape[0]):
        s = _hidden_csr(indptr, indices, data, i, x, d, h, work[:h])
        if (s > 0.0) == (y[i] > 0.0):
            correct += 1
    return correct
