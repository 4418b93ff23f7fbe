"""One worker's own estimate of its gradient noise ``tr(Sigma_i)`` from the samples of its
minibatch (``--noise-source samples``; the formulas of :mod:`crpsgd.schedules.noise`): the
sample variance of the per-sample gradients, from their norms for the linear models
(:mod:`crpsgd.kernels.sample_norms`) or from micro-batch chunks for the torch problems."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from crpsgd.errors import UsageError
from crpsgd.kernels import sample_norms
from crpsgd.kernels.fixed_order import sq_norm
from crpsgd.problems.base import Problem
from crpsgd.problems.logreg import LogisticRegression


def within_worker_trace(sq_norm_sum: float, mean_sq: float, batch: int) -> float:
    """Unbiased sample variance ``(sum_j ||h_j||^2 - B ||hbar||^2) / (B - 1)`` of ``B``
    per-sample vectors ``h_j`` with mean ``hbar``; NaN for ``B < 2``."""
    if batch < 2:
        return math.nan
    return (sq_norm_sum - batch * mean_sq) / (batch - 1)


def chunk_trace(weighted_sq_sum: float, mean_sq: float, batch: int, chunks: int) -> float:
    """Unbiased ``tr(Sigma)`` from ``k = chunks`` chunk means ``g_c`` of ``m_c`` i.i.d. samples
    each (``sum_c m_c = B = batch``): ``(sum_c m_c ||g_c||^2 - B ||g||^2) / (k - 1)`` with
    ``weighted_sq_sum = sum_c m_c ||g_c||^2`` and ``mean_sq = ||g||^2`` of the batch mean
    ``g = sum_c (m_c / B) g_c`` (see :mod:`crpsgd.torchprob.chunks` for the derivation);
    NaN for ``k < 2``. ``k = B`` chunks of one sample give :func:`within_worker_trace`."""
    if chunks < 2:
        return math.nan
    return (weighted_sq_sum - batch * mean_sq) / (chunks - 1)


def chunked_base(problem: Problem) -> Any:
    """The problem (or the base inside a proximal wrapper) that estimates its variance from
    its micro-batch chunks (has ``enable_chunk_variance``: the torch problems), or None."""
    while not hasattr(problem, "enable_chunk_variance"):
        problem = getattr(problem, "base", None)
        if problem is None:
            return None
    return problem


def logistic_base(problem: Problem) -> LogisticRegression | None:
    while not isinstance(problem, LogisticRegression):
        problem = getattr(problem, "base", None)  # ProximalProblem wraps its base
        if problem is None:
            return None
    return problem


def supports_samples(problem: Problem) -> bool:
    """Whether :func:`sample_trace` can compute the within-worker variance of ``problem``:
    the linear models (per-sample norms) and the torch problems (micro-batch chunks)."""
    return logistic_base(problem) is not None or chunked_base(problem) is not None


def sample_sq_norm_sum(problem: Problem, x: np.ndarray, idx: np.ndarray) -> float:
    """``sum_{j in idx} ||grad F(x; j) - grad r(x)||^2`` (data part of each per-sample
    gradient) for the logistic-loss problems (also inside a proximal wrapper)."""
    base = logistic_base(problem)
    if base is None:
        raise UsageError(
            f"the within-worker gradient variance (--noise-source samples) needs a linear-model "
            f"problem (or a torch problem); {type(problem).__name__} has none (use N >= 2 with "
            f"--noise-source workers)"
        )
    s = base.shard
    if s.is_sparse:
        return sample_norms.logistic_coef_sq_norm_sum_csr(s.indptr, s.indices, s.data, s.y, x, idx)
    return sample_norms.logistic_coef_sq_norm_sum_dense(s.dense, s.y, x, idx)


def sample_trace(
    problem: Problem, x: np.ndarray, idx: np.ndarray, grad: np.ndarray, scratch: np.ndarray
) -> float:
    """``tr(Sigma_i)``: the sample variance of this rank's per-sample gradients at ``x`` over
    the rows ``idx``, given their mean ``grad`` (from ``problem.stochastic_grad``).
    ``scratch`` (length ``dim``) is overwritten with the mean data gradient ``grad - grad r(x)``.
    A torch problem computed it from its chunks during ``stochastic_grad`` over ``idx``
    (after ``enable_chunk_variance()``); ``scratch`` is then not used."""
    chunked = chunked_base(problem)
    if chunked is not None:
        return chunked.chunk_trace_of(int(idx.shape[0]))
    scratch[:] = 0.0
    problem.regulariser(x, scratch)
    np.subtract(grad, scratch, out=scratch)
    mean_sq = sq_norm(scratch)
    return within_worker_trace(sample_sq_norm_sum(problem, x, idx), mean_sq, int(idx.shape[0]))
