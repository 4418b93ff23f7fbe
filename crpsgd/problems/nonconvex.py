"""Non-convex objectives for CR-PSGD-Catalyst and the periodic-averaging baselines.

* :class:`NonconvexLogisticRegression` (``--problem logreg-nonconvex``)::

      f(x) = (1/n) sum_i log(1 + exp(-b_i a_i^T x)) + lam sum_j alpha x_j^2 / (1 + alpha x_j^2)

  The data part reuses the logistic kernels (with their l2 weight set to 0); the penalty is
  ``2 lam alpha``-smooth and has curvature down to ``-lam alpha / 2``
  (:mod:`crpsgd.kernels.regularisers`), so ``L = L_data + 2 lam alpha`` with ``L_data`` the
  spectral (or per-row) bound of the logistic part.

* :class:`TwoLayerNetwork` (``--problem mlp``): one ``tanh`` hidden layer of ``hidden`` units
  and a logistic output loss (:mod:`crpsgd.kernels.mlp`), plus ``(lam/2) ||x||^2`` weight
  decay on every parameter. No bound of its smoothness constant is known (it grows with the
  weights), so ``--gamma`` and ``--theta`` must be numbers. The zero point is a saddle
  (all hidden units equal), so the start is random: from the run's seed, the same on all ranks.
"""

from __future__ import annotations

import math

import numpy as np

from crpsgd.data.dataset import Dataset
from crpsgd.kernels import logistic as logistic_kernels
from crpsgd.kernels import mlp as mlp_kernels
from crpsgd.kernels.fixed_order import sq_norm
from crpsgd.kernels.regularisers import nonconvex_penalty_add
from crpsgd.kernels.symmetric import largest_eigenvalue
from crpsgd.problems.base import Problem
from crpsgd.problems.logreg import LogisticRegression

#: Spawn key of the initial-point stream: two entries, so it never equals a rank's ``(rank,)``.
INIT_SPAWN_KEY = (0x1217, 0)


def init_rng(seed: int) -> np.random.Generator:
    """The stream that draws a random initial point: the same on every rank, independent of
    every rank's sampling stream (:func:`crpsgd.data.rng.worker_rng`)."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=INIT_SPAWN_KEY))
    )


class NonconvexLogisticRegression(LogisticRegression):
    """Logistic loss plus the non-convex penalty ``lam sum_j alpha x_j^2 / (1 + alpha x_j^2)``."""

    def __init__(self, shard: Dataset, n_total: int, lam: float, alpha: float) -> None:
        super().__init__(shard, n_total, 0.0)
        self.lam = float(lam)  # weight of the non-convex penalty (no l2 term)
        self.alpha = float(alpha)

    def stochastic_grad(self, x: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
        s = self.shard
        if s.is_sparse:
            logistic_kernels.logistic_minibatch_grad_csr(
                s.indptr, s.indices, s.data, s.y, x, idx, 0.0, out
            )
        else:
            logistic_kernels.logistic_minibatch_grad_dense(s.dense, s.y, x, idx, 0.0, out)
        nonconvex_penalty_add(x, self.lam, self.alpha, out)

    def regulariser(self, x: np.ndarray, grad_out: np.ndarray) -> float:
        return float(nonconvex_penalty_add(x, self.lam, self.alpha, grad_out))

    def penalty_smoothness(self) -> float:
        """``2 lam alpha``: the largest curvature of the penalty (at ``x_j = 0``)."""
        return 2.0 * self.lam * self.alpha

    def local_smoothness(self) -> float:
        s = self.shard
        if s.n_rows == 0:
            return self.penalty_smoothness()
        if s.is_sparse:
            max_sq = logistic_kernels.max_row_sq_norm_csr(s.indptr, s.data)
        else:
            max_sq = logistic_kernels.max_row_sq_norm_dense(s.dense)
        return self.penalty_smoothness() + 0.25 * max_sq

    def smoothness_from_gram(self, gram_total: np.ndarray) -> float:
        return self.penalty_smoothness() + largest_eigenvalue(gram_total) / self.n_total


class TwoLayerNetwork(Problem):
    """A one-hidden-layer ``tanh`` network for binary classification; parameters as one flat
    vector laid out as in :mod:`crpsgd.kernels.mlp`."""

    smoothness_known = False

    def __init__(self, shard: Dataset, n_total: int, hidden: int, lam: float) -> None:
        if hidden < 1:
            raise ValueError(f"hidden={hidden} must be >= 1")
        self.shard = shard
        self.hidden = int(hidden)
        self.lam = float(lam)
        self.n_features = shard.n_features
        self.dim = mlp_kernels.mlp_dim(shard.n_features, self.hidden)
        self.n_local = shard.n_rows
        self.n_total = int(n_total)
        self._work = np.empty(2 * self.hidden)

    def stochastic_grad(self, x: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
        s, h = self.shard, self.hidden
        if s.is_sparse:
            mlp_kernels.mlp_minibatch_grad_csr(
                s.indptr, s.indices, s.data, s.y, x, idx, s.n_features, h, self.lam, out, self._work
            )
        else:
            mlp_kernels.mlp_minibatch_grad_dense(s.dense, s.y, x, idx, h, self.lam, out, self._work)

    def local_sums(self, x: np.ndarray, grad_out: np.ndarray) -> float:
        s, h = self.shard, self.hidden
        if s.is_sparse:
            return mlp_kernels.mlp_loss_grad_sum_csr(
                s.indptr, s.indices, s.data, s.y, x, s.n_features, h, grad_out, self._work
            )
        return mlp_kernels.mlp_loss_grad_sum_dense(s.dense, s.y, x, h, grad_out, self._work)

    def regulariser(self, x: np.ndarray, grad_out: np.ndarray) -> float:
        grad_out += self.lam * x
        return 0.5 * self.lam * sq_norm(x)

    def local_smoothness(self) -> float:
        """Unknown for a network: NaN (see :attr:`smoothness_known`)."""
        return math.nan

    def initial_point(self, seed: int) -> np.ndarray:
        """``W ~ N(0, 1/d)``, ``v ~ N(0, 1/h)``, biases 0, from :func:`init_rng` (``seed``)."""
        d, h = self.n_features, self.hidden
        rng = init_rng(seed)
        x = np.zeros(self.dim)
        x[: d * h] = rng.standard_normal(d * h) / math.sqrt(d)
        x[d * h + h : d * h + 2 * h] = rng.standard_normal(h) / math.sqrt(h)
        return x

    def count_correct(self, x: np.ndarray, dataset: Dataset) -> int:
        h = self.hidden
        if dataset.is_sparse:
            return mlp_kernels.mlp_count_correct_csr(
                dataset.indptr,
                dataset.indices,
                dataset.data,
                dataset.y,
                x,
                dataset.n_features,
                h,
                self._work,
            )
        return mlp_kernels.mlp_count_correct_dense(dataset.dense, dataset.y, x, h, self._work)
