"""A dense copy of a CSR :class:`~crpsgd.data.dataset.Dataset` (one Numba loop over the
stored entries)."""

from __future__ import annotations

import numba
import numpy as np

from crpsgd.data.dataset import Dataset


@numba.njit(cache=True, nogil=True)
def _csr_to_dense(indptr, indices, data, n_features):
    n = indptr.shape[0] - 1
    out = np.zeros((n, n_features), np.float64)
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            out[i, indices[k]] = data[k]
    return out


def csr_to_dense(ds: Dataset) -> Dataset:
    """A dense copy of a CSR :class:`Dataset` (a dense one is returned unchanged)."""
    if not ds.is_sparse:
        return ds
    indptr = ds.indptr - ds.indptr[0]
    lo, hi = int(ds.indptr[0]), int(ds.indptr[-1])
    dense = _csr_to_dense(indptr, ds.indices[lo:hi], ds.data[lo:hi], ds.n_features)
    return Dataset(ds.y, ds.n_features, dense=dense)
