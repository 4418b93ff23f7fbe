"""Gradient-noise statistics from what a round already computes, at one extra buffer slot.

Notation: ``f(x) = E F(x; zeta)``; ``Sigma`` the covariance of one sample's gradient
``grad F(x; zeta)`` at the current point, ``tr(Sigma)`` its trace (the summed per-coordinate
variances, in squared gradient units; a property of the problem and the point, not of the
batch); ``g_i`` the minibatch mean of worker ``i`` over ``B`` i.i.d. samples (covariance
``Sigma / B``) and ``gbar = (1/N) sum_i g_i`` the averaged gradient of the round (covariance
``Sigma / (N B)``).

**Across workers** (``source = "workers"``, N >= 2; the distributed form of the norm test of
Byrd, Chin, Nocedal & Wu 2012). Each worker puts ``||g_i||^2`` into the round's buffer; after
the Allreduce-mean every rank knows ``gbar`` and ``(1/N) sum_i ||g_i||^2``. Since
``E ||g_i||^2 = ||grad f||^2 + tr(Sigma)/B`` and ``E ||gbar||^2 = ||grad f||^2 + tr(Sigma)/(N B)``::

    tr(Sigma) / B  ~  N/(N-1) ((1/N) sum_i ||g_i||^2 - ||gbar||^2)        (unbiased)
    ||grad f||^2   ~  ||gbar||^2 - (tr(Sigma) / B) / N                      (unbiased)

With shards that differ (each worker samples its own shard), ``E ||g_i||^2`` also holds the
spread ``zeta^2 = (1/N) sum_i ||grad f_i - grad f||^2`` of the shard gradients, so the first
estimate reads ``tr(Sigma)/B + zeta^2`` and the second is ``zeta^2 / N`` too small: for
shards drawn from the same distribution ``zeta^2`` is small, for sorted data it is not.

**Within workers** (``source = "samples"``; the only choice for N = 1). Each worker puts the
unbiased sample variance of its own ``B`` per-sample gradients into the slot,
``tr(Sigma_i) ~ (sum_j ||h_j||^2 - B ||hbar||^2) / (B - 1)`` with ``h_j`` the data part of the
per-sample gradients (the deterministic regulariser does not change the variance) and
``hbar`` their mean; the Allreduce averages these over workers, which is exactly the noise
of ``gbar``: ``Var(gbar) = (1/N^2) sum_i tr(Sigma_i)/B``. Then
``||grad f||^2 ~ ||gbar||^2 - tr(Sigma)/(N B)``. For the linear-model problems (logistic
loss) ``||h_j||^2 = c_j^2 ||a_j||^2`` (see :mod:`crpsgd.kernels.sample_norms`): one pass over
the sampled rows, no per-sample gradient formed. For the torch problems the units are the
round's ``k >= 2`` micro-batch chunks instead of its samples: with chunk means ``g_c`` of
``m_c`` samples and ``g`` the batch mean, ``tr(Sigma_i) ~ (sum_c m_c ||g_c||^2 - B ||g||^2) /
(k - 1)`` (:func:`chunk_trace`; derivation, chunking and cost in
:mod:`crpsgd.torchprob.chunks`), computed while the chunks' gradients accumulate.

**Smoothing.** One round's estimates are noisy (the second can be negative). As McCandlish
et al. (2018, "An empirical model of large-batch training", appendix A) and AdaptDL's
gradient-noise-scale do, the numerator ``tr(Sigma)`` and the denominator ``||grad f||^2`` are
averaged separately with a bias-corrected exponential moving average (weight ``1 - beta`` on
the newest round; divided by ``1 - beta^k`` after ``k`` rounds), and the gradient noise scale
``B_noise = tr(Sigma) / ||grad f||^2`` (in samples) is the ratio of the two averages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from crpsgd.errors import UsageError
from crpsgd.kernels.fixed_order import sq_norm
from crpsgd.problems.base import Problem
from crpsgd.schedules.sample_noise import (
    chunk_trace,
    chunked_base,
    sample_sq_norm_sum,
    sample_trace,
    supports_samples,
    within_worker_trace,
)
from crpsgd.schedules.schedule import LocalStats, RoundStats  # re-exported: the one definition

NOISE_SOURCES = ("auto", "workers", "samples")

__all__ = [
    "NOISE_SOURCES",
    "LocalStats",
    "RoundStats",
    "NoiseEstimate",
    "NoiseEstimator",
    "cross_worker_estimate",
    "within_worker_trace",
    "chunk_trace",
    "smoothed",
    "sample_sq_norm_sum",
    "sample_trace",
    "supports_samples",
    "resolve_source",
]


@dataclass(frozen=True)
class NoiseEstimate:
    """One round's estimates and their smoothed values (NaN where undefined).

    ``trace`` and ``grad_sq`` are this round's unbiased estimates of ``tr(Sigma)`` and
    ``||grad f||^2``; ``trace_avg`` and ``grad_sq_avg`` their bias-corrected moving averages.
    """

    trace: float
    grad_sq: float
    trace_avg: float
    grad_sq_avg: float

    @property
    def noise_scale(self) -> float:
        """``B_noise = tr(Sigma) / ||grad f||^2`` from the averages; NaN unless both are > 0."""
        if self.trace_avg > 0.0 and self.grad_sq_avg > 0.0:
            return self.trace_avg / self.grad_sq_avg
        return math.nan

    def columns(self) -> dict[str, float]:
        """The ``/rounds`` columns: ``noise_var`` (this round's ``tr(Sigma)``),
        ``grad_sq_est`` (this round's ``||grad f||^2``) and ``noise_scale`` (smoothed)."""
        return {
            "noise_var": self.trace,
            "grad_sq_est": self.grad_sq,
            "noise_scale": self.noise_scale,
        }


def cross_worker_estimate(
    grad_mean_sq: float, local_sq_mean: float, n_workers: int, batch: int
) -> tuple[float, float]:
    """``(tr(Sigma), ||grad f||^2)`` from ``||gbar||^2`` and ``(1/N) sum_i ||g_i||^2``.

    ``tr(Sigma) = B N/(N-1) ((1/N) sum ||g_i||^2 - ||gbar||^2)`` and
    ``||grad f||^2 = ||gbar||^2 - tr(Sigma)/(N B)``; both NaN for ``N < 2``.
    """
    if n_workers < 2:
        return math.nan, math.nan
    n = float(n_workers)
    var_of_mean = n / (n - 1.0) * (local_sq_mean - grad_mean_sq)  # tr(Sigma) / B
    return batch * var_of_mean, grad_mean_sq - var_of_mean / n


def smoothed(
    trace_m: float, grad_sq_m: float, weight: float, beta: float, trace: float, grad_sq: float
) -> tuple[float, float, float]:
    """One step of the bias-corrected moving averages: ``m <- beta m + (1 - beta) v`` for
    ``tr(Sigma)`` and ``||grad f||^2`` and ``w <- beta w + (1 - beta)`` for their weight (the
    averages are ``m / w``); unchanged unless both new values are finite."""
    if math.isfinite(trace) and math.isfinite(grad_sq):
        return (
            beta * trace_m + (1.0 - beta) * trace,
            beta * grad_sq_m + (1.0 - beta) * grad_sq,
            beta * weight + (1.0 - beta),
        )
    return trace_m, grad_sq_m, weight


def resolve_source(source: str, n_workers: int) -> str:
    """``auto`` means ``workers`` for N >= 2 and ``samples`` for N = 1."""
    if source not in NOISE_SOURCES:
        raise UsageError(f"--noise-source {source!r}: must be one of {', '.join(NOISE_SOURCES)}")
    if source == "auto":
        return "workers" if n_workers >= 2 else "samples"
    if source == "workers" and n_workers < 2:
        raise UsageError("--noise-source workers needs at least 2 workers (N = 1 here)")
    return source


class NoiseEstimator:
    """The per-round noise statistics of one run (every rank holds an identical copy).

    Use: before the Allreduce, :meth:`fill` this rank's contribution into its ``slots``
    (= 1) extra buffer entries; after it, :meth:`update` with the reduced entries and the
    averaged gradient. ``smoothing`` is ``beta`` of the moving averages, in ``[0, 1)``
    (0: no smoothing). Rounds whose estimates are not finite (``B = 1`` within workers) leave
    the averages as they were. Given the ``problem``, ``source = "auto"`` on one worker with a
    problem that has no within-worker estimate becomes ``"none"`` (every estimate NaN, the
    slot 0), and an explicit ``"samples"`` is refused at once. With ``"samples"`` a problem
    that estimates from micro-batch chunks (torch) is switched to it here
    (``enable_chunk_variance()``: from then on a batch of ``B >= 2`` runs in at least two
    chunks). The slot never holds a non-finite value of its own making (the round's
    Allreduce would report divergence).
    """

    slots = 1

    def __init__(
        self,
        n_workers: int,
        source: str = "auto",
        smoothing: float = 0.9,
        problem: Problem | None = None,
    ) -> None:
        if not 0.0 <= smoothing < 1.0:
            raise UsageError(f"--noise-ema {smoothing!r}: must be in [0, 1)")
        self.n_workers = int(n_workers)
        self.problem = problem
        # "none" (internal, not a --noise-source): estimate nothing, NaN columns, slot 0
        self.source = "none" if source == "none" else resolve_source(source, self.n_workers)
        if self.source == "samples" and problem is not None and not supports_samples(problem):
            if source != "auto":
                raise UsageError(
                    f"--noise-source samples needs a linear-model problem or a torch problem; "
                    f"{type(problem).__name__} has no per-sample gradient norms"
                )
            self.source = "none"  # N = 1 and no within-worker estimate: NaN columns
        if self.source == "samples" and problem is not None:
            chunked = chunked_base(problem)
            if chunked is not None:
                chunked.enable_chunk_variance()
        self.smoothing = float(smoothing)
        self._trace_m = 0.0  # moving averages before bias correction
        self._grad_sq_m = 0.0
        self._weight = 0.0  # 1 - beta^k after k finite rounds
        self._scratch: np.ndarray | None = None
        self.last: NoiseEstimate | None = None

    def fill(self, view: np.ndarray, local: LocalStats) -> None:
        """Write this rank's contribution into ``view[0]``: ``||g_i||^2`` across workers, the
        sample variance ``tr(Sigma_i)`` of its minibatch within workers."""
        if self.source == "workers":
            view[0] = sq_norm(local.grad)
            return
        if self.source == "none" or local.batch < 2:
            view[0] = 0.0  # undefined here; a NaN would make the round's Allreduce diverge
            return
        if local.problem is None or local.x is None or local.idx is None:
            raise ValueError("the within-worker estimate needs the problem, x and idx")
        if self._scratch is None or self._scratch.shape != local.grad.shape:
            self._scratch = np.empty_like(local.grad)
        view[0] = sample_trace(local.problem, local.x, local.idx, local.grad, self._scratch)

    def update(self, stats: RoundStats) -> NoiseEstimate:
        """This round's estimates from the reduced slot and ``gbar``; smooths; returns them."""
        gbar_sq = sq_norm(stats.grad)
        slot = float(stats.slots[0])
        if self.source == "workers":
            trace, grad_sq = cross_worker_estimate(gbar_sq, slot, stats.n_workers, stats.batch)
        elif self.source == "none" or stats.batch < 2:
            trace = grad_sq = math.nan
        else:
            trace = slot
            grad_sq = gbar_sq - trace / (stats.n_workers * stats.batch)
        self._trace_m, self._grad_sq_m, self._weight = smoothed(
            self._trace_m, self._grad_sq_m, self._weight, self.smoothing, trace, grad_sq
        )
        self.last = NoiseEstimate(trace, grad_sq, *self.averages())
        return self.last

    def averages(self) -> tuple[float, float]:
        """The bias-corrected moving averages ``(tr(Sigma), ||grad f||^2)`` so far (NaN before
        any finite round); part of the checkpointed state, unlike :attr:`last`."""
        if self._weight > 0.0:
            return self._trace_m / self._weight, self._grad_sq_m / self._weight
        return math.nan, math.nan

    def state(self) -> dict[str, Any]:
        """JSON-ready state (floats round-trip exactly through ``repr``)."""
        return {
            "source": self.source,
            "smoothing": self.smoothing,
            "trace_m": self._trace_m,
            "grad_sq_m": self._grad_sq_m,
            "weight": self._weight,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        if state["source"] != self.source or float(state["smoothing"]) != self.smoothing:
            raise UsageError(
                f"the checkpoint's noise estimate (source {state['source']}, smoothing "
                f"{state['smoothing']}) differs from this run's ({self.source}, {self.smoothing})"
            )
        self._trace_m = float(state["trace_m"])
        self._grad_sq_m = float(state["grad_sq_m"])
        self._weight = float(state["weight"])
