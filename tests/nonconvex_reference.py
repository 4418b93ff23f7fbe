"""Plain NumPy references of the non-convex objectives, shared by the kernel, problem and MPI
tests: no Numba, whole-matrix operations, the formulas of the module docstrings."""

from __future__ import annotations

import numpy as np


def logistic_coef(m: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dF/ds = -y sigmoid(-y s)`` for margins ``m = y s``."""
    return -y * np.exp(-np.logaddexp(0.0, m))


def penalty(x: np.ndarray, lam: float, alpha: float) -> tuple[float, np.ndarray]:
    """``lam sum alpha x^2 / (1 + alpha x^2)`` and its gradient."""
    u = alpha * x * x
    return float(lam * np.sum(u / (1.0 + u))), lam * 2.0 * alpha * x / (1.0 + u) ** 2


def nclogreg_grad(A, y, x, idx, lam, alpha) -> np.ndarray:
    """Minibatch gradient of the non-convex logistic regression (rows ``idx`` of dense ``A``)."""
    Ab, yb = A[idx], y[idx]
    return Ab.T @ logistic_coef(yb * (Ab @ x), yb) / len(idx) + penalty(x, lam, alpha)[1]


def nclogreg_objective(A, y, x, lam, alpha) -> tuple[float, np.ndarray]:
    m = y * (A @ x)
    pv, pg = penalty(x, lam, alpha)
    return float(np.logaddexp(0.0, -m).mean()) + pv, A.T @ logistic_coef(m, y) / len(y) + pg


def mlp_unpack(x: np.ndarray, d: int, h: int):
    W = x[: d * h].reshape(d, h)
    b = x[d * h : d * h + h]
    v = x[d * h + h : d * h + 2 * h]
    return W, b, v, x[d * h + 2 * h]


def mlp_losses_grads(A, y, x, h) -> tuple[np.ndarray, np.ndarray]:
    """Per-row losses ``(n,)`` and per-row gradients ``(n, m)`` of the two-layer network."""
    n, d = A.shape
    W, b, v, c = mlp_unpack(x, d, h)
    U = np.tanh(A @ W + b)
    s = U @ v + c
    losses = np.logaddexp(0.0, -y * s)
    g = logistic_coef(y * s, y)
    delta = (g[:, None] * v[None, :]) * (1.0 - U * U)
    grads = np.empty((n, x.size))
    grads[:, : d * h] = (A[:, :, None] * delta[:, None, :]).reshape(n, d * h)
    grads[:, d * h : d * h + h] = delta
    grads[:, d * h + h : d * h + 2 * h] = g[:, None] * U
    grads[:, -1] = g
    return losses, grads


def mlp_scores(A, x, h) -> np.ndarray:
    W, b, v, c = mlp_unpack(x, A.shape[1], h)
    return np.tanh(A @ W + b) @ v + c


def mlp_grad(A, y, x, idx, h, lam) -> np.ndarray:
    """Minibatch gradient of the network plus ``lam x``."""
    _, grads = mlp_losses_grads(A[idx], y[idx], x, h)
    return grads.mean(axis=0) + lam * x


def mlp_objective(A, y, x, h, lam) -> tuple[float, np.ndarray]:
    losses, grads = mlp_losses_grads(A, y, x, h)
    return float(losses.mean() + 0.5 * lam * x @ x), grads.mean(axis=0) + lam * x


def to_csr(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays in the kernel layout (indptr int64, indices int32, data float64)."""
    mask = A != 0.0
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int64)
    return indptr, np.nonzero(mask)[1].astype(np.int32), np.ascontiguousarray(A[mask])


def make_data(n: int, d: int, density: float, seed: int):
    """Rows with about ``density`` non-zeros (row 1 empty), labels +-1, and a generator."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d)) * (rng.random((n, d)) < density)
    if n > 2:
        A[1] = 0.0
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return np.ascontiguousarray(A), y, rng
