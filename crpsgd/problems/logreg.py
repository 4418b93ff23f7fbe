"""l2-regularised logistic regression on a dense or CSR shard.

``f(x) = (1/n) sum_i log(1 + exp(-b_i a_i^T x)) + (lam/2) ||x||^2`` with labels
``b_i in {-1, +1}``. Smoothness: the Hessian is at most ``(1/(4n)) A^T A + lam I``, so
``L = lam + lambda_max(A^T A) / (4 n)`` (the spectral bound, used when ``d`` is small enough to
form ``A^T A``) or the looser ``L = lam + max_i ||a_i||^2 / 4`` (each sample's own bound).
"""

from __future__ import annotations

import numpy as np

from crpsgd.data.dataset import Dataset
from crpsgd.kernels import linear as linear_kernels
from crpsgd.kernels import logistic as kernels
from crpsgd.kernels.fixed_order import sq_norm
from crpsgd.kernels.symmetric import largest_eigenvalue, weighted_gram_csr, weighted_gram_dense
from crpsgd.problems.base import Problem


class LogisticRegression(Problem):
    """Logistic loss plus ``(lam/2)||x||^2`` over this rank's shard (``n_total`` rows in all)."""

    def __init__(self, shard: Dataset, n_total: int, lam: float) -> None:
        self.shard = shard
        self.lam = float(lam)
        self.dim = shard.n_features
        self.n_local = shard.n_rows
        self.n_total = int(n_total)

    def stochastic_grad(self, x: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
        s = self.shard
        if s.is_sparse:
            kernels.logistic_minibatch_grad_csr(
                s.indptr, s.indices, s.data, s.y, x, idx, self.lam, out
            )
        else:
            kernels.logistic_minibatch_grad_dense(s.dense, s.y, x, idx, self.lam, out)

    def round_kernel(self) -> tuple | None:
        """The shard's arrays and ``lam`` for the compiled block of rounds, or None when a
        subclass changes the gradient, sampling, step or buffers."""
        cls = type(self)
        if (
            cls.stochastic_grad is not LogisticRegression.stochastic_grad
            or cls.sample_batch is not Problem.sample_batch
            or cls.apply_step is not Problem.apply_step
            or cls.loop_arrays is not Problem.loop_arrays
            or np.dtype(self.dtype) != np.float64
        ):
            return None
        s = self.shard
        if s.is_sparse:
            return (s.indptr, s.indices, s.data, s.y, self.lam)
        return (s.dense, s.y, self.lam)

    def local_sums(self, x: np.ndarray, grad_out: np.ndarray) -> float:
        s = self.shard
        if s.is_sparse:
            return kernels.logistic_loss_grad_sum_csr(s.indptr, s.indices, s.data, s.y, x, grad_out)
        return kernels.logistic_loss_grad_sum_dense(s.dense, s.y, x, grad_out)

    def regulariser(self, x: np.ndarray, grad_out: np.ndarray) -> float:
        grad_out += self.lam * x
        return 0.5 * self.lam * sq_norm(x)

    def local_smoothness(self) -> float:
        s = self.shard
        if s.n_rows == 0:
            return self.lam
        if s.is_sparse:
            max_sq = kernels.max_row_sq_norm_csr(s.indptr, s.data)
        else:
            max_sq = kernels.max_row_sq_norm_dense(s.dense)
        return self.lam + 0.25 * max_sq

    def local_curvature_gram(self, max_dim: int = 4096) -> np.ndarray | None:
        """``sum_i a_i a_i^T / 4`` over the local rows (d x d), or None when ``d > max_dim``."""
        if self.dim > max_dim:
            return None
        return 0.25 * self._weighted_gram(np.ones(self.n_local))

    def _weighted_gram(self, w: np.ndarray) -> np.ndarray:
        """``sum_i w_i a_i a_i^T`` over the local rows, in the fixed order of
        :mod:`crpsgd.kernels.symmetric` (the same bits on every processor)."""
        s, gram = self.shard, np.empty((self.dim, self.dim))
        if s.is_sparse:
            weighted_gram_csr(s.indptr, s.indices, s.data, w, gram)
        else:
            weighted_gram_dense(s.dense, w, gram)
        return gram

    def smoothness_from_gram(self, gram_total: np.ndarray) -> float:
        """``L = lam + lambda_max(sum over all ranks of the Gram terms) / n``."""
        return self.lam + largest_eigenvalue(gram_total) / self.n_total

    def count_correct(self, x: np.ndarray, dataset: Dataset) -> int:
        if dataset.is_sparse:
            return linear_kernels.count_correct_csr(
                dataset.indptr, dataset.indices, dataset.data, dataset.y, x
            )
        return linear_kernels.count_correct_dense(dataset.dense, dataset.y, x)

    def local_newton_terms(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Data-part sums over local rows: loss, gradient and Hessian ``sum_i w_i a_i a_i^T``
        with ``w_i = sigma(m_i) sigma(-m_i)``, ``m_i = b_i a_i^T x`` (for ``f*``)."""
        s = self.shard
        grad, w = np.empty(self.dim), np.empty(self.n_local)
        loss = self.local_sums(x, grad)
        if s.is_sparse:
            kernels.logistic_curvature_weights_csr(s.indptr, s.indices, s.data, s.y, x, w)
        else:
            kernels.logistic_curvature_weights_dense(s.dense, s.y, x, w)
        return float(loss), grad, self._weighted_gram(w)
