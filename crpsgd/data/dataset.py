"""The in-memory data set shared by readers, problems and kernels.

A :class:`Dataset` holds ``n`` rows of ``d`` features and one label per row. Features are
either a dense C-contiguous ``float64`` array of shape ``(n, d)`` or a CSR triple
(``indptr`` int64 of length ``n + 1``, ``indices`` int32 column numbers, 0-based and
increasing within a row, ``data`` float64). Labels are ``float64`` in ``{-1.0, +1.0}``.
Kernels take these raw arrays directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Binary-classification rows, dense or CSR; see the module docstring for the layout."""

    y: np.ndarray
    n_features: int
    dense: np.ndarray | None = None
    indptr: np.ndarray | None = None
    indices: np.ndarray | None = None
    data: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.dense is None) == (self.indptr is None):
            raise ValueError("Dataset needs exactly one of dense or CSR (indptr/indices/data)")
        if self.dense is not None:
            if self.dense.shape != (self.y.shape[0], self.n_features):
                raise ValueError(
                    f"dense shape {self.dense.shape} != ({self.n_rows}, {self.n_features})"
                )
        elif self.indptr.shape[0] != self.y.shape[0] + 1:
            raise ValueError("indptr must have n_rows + 1 entries")

    @property
    def is_sparse(self) -> bool:
        return self.dense is None

    @property
    def n_rows(self) -> int:
        return int(self.y.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, self.n_features)

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1] - self.indptr[0]) if self.is_sparse else self.dense.size

    def rows(self, start: int, stop: int) -> Dataset:
        """The contiguous row slice ``[start, stop)`` as a new Dataset (CSR re-based at 0)."""
        if not self.is_sparse:
            return Dataset(self.y[start:stop], self.n_features, dense=self.dense[start:stop])
        lo, hi = int(self.indptr[start]), int(self.indptr[stop])
        return Dataset(
            self.y[start:stop],
            self.n_features,
            indptr=self.indptr[start : stop + 1] - lo,
            indices=self.indices[lo:hi],
            data=self.data[lo:hi],
        )

    def to_dense(self) -> np.ndarray:
        """The feature matrix as a dense ``(n, d)`` float64 array (for tests and references)."""
        if not self.is_sparse:
            return self.dense
        out = np.zeros(self.shape)
        for i in range(self.n_rows):
            lo, hi = self.indptr[i], self.indptr[i + 1]
            out[i, self.indices[lo:hi]] = self.data[lo:hi]
        return out
