"""The references ``bench_kernels.py`` measures the minibatch-gradient kernels against:
NumPy/SciPy gradients (also computing each repeated row once) and plain reads of the rows
(contiguous, sampled, sampled with the kernel's prefetch hints) -- the bound of any kernel
that reads the sampled rows."""

from __future__ import annotations

import numba
import numpy as np
from scipy.special import expit

from crpsgd.kernels.logistic import PREFETCH_AHEAD, _prefetch_dense_row


def numpy_grad(X, y: np.ndarray, x: np.ndarray, idx: np.ndarray, lam: float) -> np.ndarray:
    """Vectorised NumPy (or, for a SciPy CSR ``X``, SciPy) minibatch gradient: the same formula."""
    A = X[idx]
    yb = y[idx]
    coef = -yb * expit(-yb * (A @ x))
    return A.T @ coef / idx.shape[0] + lam * x


def numpy_grad_repeats_once(
    X, y: np.ndarray, x: np.ndarray, idx: np.ndarray, lam: float
) -> np.ndarray:
    """:func:`numpy_grad` computing each distinct row once, weighted by how often it was drawn."""
    rows, counts = np.unique(idx, return_counts=True)
    A = X[rows]
    yb = y[rows]
    coef = -yb * expit(-yb * (A @ x)) * counts
    return A.T @ coef / idx.shape[0] + lam * x


@numba.njit(fastmath={"reassoc", "contract"}, nogil=True)
def read_rows(X, lo, hi):
    """Sum of the contiguous rows ``lo:hi``: a sequential read of ``(hi - lo) * d * 8`` bytes."""
    s = 0.0
    for i in range(lo, hi):
        for j in range(X.shape[1]):
            s += X[i, j]
    return s


@numba.njit(fastmath={"reassoc", "contract"}, nogil=True)
def read_sampled_rows(X, idx):
    """Sum of the rows ``idx`` (a plain loop): reading exactly the bytes the kernel reads."""
    s = 0.0
    for k in range(idx.shape[0]):
        i = idx[k]
        for j in range(X.shape[1]):
            s += X[i, j]
    return s


@numba.njit(fastmath={"reassoc", "contract"}, nogil=True)
def read_sampled_rows_prefetched(X, idx):
    """Sum of the distinct rows of sorted ``idx``, prefetched ``PREFETCH_AHEAD`` samples ahead
    as the kernel does: the fastest read of the rows the kernel must read."""
    d = X.shape[1]
    b = idx.shape[0]
    flat = X.reshape(-1)
    s = 0.0
    for k in range(b):
        if k + PREFETCH_AHEAD < b and idx[k + PREFETCH_AHEAD] != idx[k + PREFETCH_AHEAD - 1]:
            _prefetch_dense_row(flat, idx[k + PREFETCH_AHEAD], d)
        if k > 0 and idx[k] == idx[k - 1]:
            continue
        i = idx[k]
        for j in range(d):
            s += X[i, j]
    return s


# --------------------------------------------------------------------------- timing
