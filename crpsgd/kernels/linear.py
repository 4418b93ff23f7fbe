"""Kernels for linear classifiers that are not gradients: counting correct predictions."""

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def count_correct_dense(X: np.ndarray, y: np.ndarray, x: np.ndarray) -> int:
    """Number of rows with ``sign(a_i . x) == y_i``, predicting ``+1`` when ``a_i . x > 0``."""
    correct = 0
    for i in range(X.shape[0]):
        m = 0.0
        for j in range(X.shape[1]):
            m += X[i, j] * x[j]
        if (m > 0.0) == (y[i] > 0.0):
            correct += 1
    return correct


@numba.njit(cache=True, nogil=True)
def count_correct_csr(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, y: np.ndarray, x: np.ndarray
) -> int:
    """CSR version of :func:`count_correct_dense`."""
    correct = 0
    for i in range(y.shape[0]):
        m = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            m += data[k] * x[indices[k]]
        if (m > 0.0) == (y[i] > 0.0):
            correct += 1
    return correct
