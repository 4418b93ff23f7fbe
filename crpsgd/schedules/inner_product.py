"""The gradient noise along one direction, for the inner-product and orthogonality tests.

Bollapragada, Byrd & Nocedal (*Adaptive sampling strategies for stochastic optimization*,
SIAM J. Optim. 2018) bound the noise of a minibatch gradient *along* the gradient
separately from the noise *across* it. With ``u`` a unit direction and ``Sigma`` the
covariance of one sample's gradient (notation of :mod:`crpsgd.schedules.noise`), the noise along
``u`` is ``u^T Sigma u`` (squared gradient units) and the noise across it ``tr(Sigma) - u^T Sigma
u``.

**The direction.** The test wants ``u`` along ``grad f(x_t)``, and every worker must know it
*before* the round's Allreduce (its projection rides in the same buffer). The direction here
is the previous round's averaged gradient, ``u_t = gbar_{t-1} / ||gbar_{t-1}||``: identical on
every rank, and independent of round ``t``'s samples, so the estimates below are unbiased
for ``u_t^T Sigma(x_t) u_t`` given the past. Round 1 has no direction: its slots hold 0, its
estimate is NaN and the schedule decides ``B_2`` by the norm test. Bias, variance and what the
stale direction costs: the design page *Adaptive batches* of the documentation.

**Across workers** (``source = "workers"``, N >= 2). Worker ``i`` adds ``p_i = g_i^T u`` and
``p_i^2`` (two slots); after the Allreduce-mean::

    u^T Sigma u  ~  B N/(N-1) ((1/N) sum_i p_i^2 - ((1/N) sum_i p_i)^2)     (unbiased)

**Within workers** (``source = "samples"``; the only choice for N = 1). Worker ``i`` adds the
unbiased sample variance of its ``B`` per-sample projections ``u^T h_j`` (the regulariser is
deterministic and does not change it); the Allreduce averages them over workers. Linear models
only (:mod:`crpsgd.kernels.sample_projections`); torch problems need N >= 2 for this test.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from crpsgd.errors import UsageError
from crpsgd.kernels import sample_projections
from crpsgd.kernels.fixed_order import dot, sq_norm
from crpsgd.problems.base import Problem
from crpsgd.schedules.noise import smoothed
from crpsgd.schedules.sample_noise import logistic_base
from crpsgd.schedules.schedule import LocalStats, RoundStats

__all__ = [
    "AlongEstimator",
    "cross_worker_along",
    "within_worker_along",
    "sample_along",
    "along_columns",
]


def cross_worker_along(p_mean: float, p_sq_mean: float, n_workers: int, batch: int) -> float:
    """``u^T Sigma u = B N/(N-1) ((1/N) sum p_i^2 - ((1/N) sum p_i)^2)`` from the workers'
    projections ``p_i = g_i^T u`` of their minibatch means of ``B = batch`` samples; NaN for
    ``N < 2``."""
    if n_workers < 2:
        return math.nan
    n = float(n_workers)
    return batch * n / (n - 1.0) * (p_sq_mean - p_mean * p_mean)


def within_worker_along(p_sum: float, p_sq_sum: float, batch: int) -> float:
    """Unbiased sample variance ``(sum p_j^2 - (sum p_j)^2 / B) / (B - 1)`` of ``B`` scalar
    projections ``p_j``; NaN for ``B < 2``."""
    if batch < 2:
        return math.nan
    return (p_sq_sum - p_sum * p_sum / batch) / (batch - 1)


def sample_along(problem: Problem, x: np.ndarray, idx: np.ndarray, u: np.ndarray) -> float:
    """``u^T Sigma_i u``: the sample variance of this rank's per-sample gradients projected on
    ``u`` at ``x`` over the rows ``idx`` (logistic-loss problems, also inside a proximal
    wrapper)."""
    base = logistic_base(problem)
    if base is None:
        raise UsageError(
            f"--adaptive-test inner-product with the within-worker estimate needs a "
            f"linear-model problem; {type(problem).__name__} has none (use N >= 2 workers)"
        )
    s = base.shard
    if s.is_sparse:
        sums = sample_projections.logistic_projection_sums_csr(
            s.indptr, s.indices, s.data, s.y, x, u, idx
        )
    else:
        sums = sample_projections.logistic_projection_sums_dense(s.dense, s.y, x, u, idx)
    return within_worker_along(sums[0], sums[1], int(idx.shape[0]))


class AlongEstimator:
    """The per-round estimate of ``u^T Sigma u`` (every rank holds an identical copy).

    Use as :class:`~crpsgd.schedules.noise.NoiseEstimator`: :meth:`fill` this rank's two slots
    before the Allreduce, :meth:`update` with the reduced slots and ``gbar`` after it (which also
    sets the next round's direction). ``source`` is the resolved ``workers`` or ``samples``;
    ``smoothing`` the ``beta`` of the bias-corrected moving average. :attr:`last` is this
    round's estimate, :attr:`average` the smoothed one (NaN before any finite round).
    """

    slots = 2

    def __init__(self, n_workers: int, source: str, smoothing: float) -> None:
        if source not in ("workers", "samples"):
            raise UsageError(f"the noise along the gradient cannot be estimated from {source!r}")
        self.n_workers = int(n_workers)
        self.source = source
        self.smoothing = float(smoothing)
        self.direction: np.ndarray | None = None  # u_t: unit, from round t - 1
        self._m = 0.0  # moving average before bias correction, and its weight
        self._weight = 0.0
        self.last = math.nan

    @property
    def average(self) -> float:
        return self._m / self._weight if self._weight > 0.0 else math.nan

    def fill(self, view: np.ndarray, local: LocalStats) -> None:
        """``view[0:2] = (g_i^T u, (g_i^T u)^2)`` across workers, ``(u^T Sigma_i u, 0)``
        within; zeros without a direction (round 1) or below two samples within."""
        u = self.direction
        view[0] = view[1] = 0.0
        if u is None:
            return
        if self.source == "workers":
            p = dot(np.ascontiguousarray(local.grad, dtype=u.dtype), u)
            view[0], view[1] = p, p * p
        elif local.batch >= 2:
            if local.problem is None or local.x is None or local.idx is None:
                raise ValueError("the within-worker estimate needs the problem, x and idx")
            along = sample_along(local.problem, local.x, local.idx, u)
            view[0] = along if math.isfinite(along) else 0.0

    def update(self, stats: RoundStats) -> float:
        """This round's ``u^T Sigma u`` (NaN without a direction), smoothed; then the next
        round's direction ``gbar / ||gbar||`` (none if ``gbar`` is 0 or not finite)."""
        along = math.nan
        if self.direction is not None:
            if self.source == "workers":
                along = cross_worker_along(
                    float(stats.slots[0]), float(stats.slots[1]), stats.n_workers, stats.batch
                )
            elif stats.batch >= 2:
                along = float(stats.slots[0])
        self._m, _, self._weight = smoothed(self._m, 0.0, self._weight, self.smoothing, along, 0.0)
        self.last = along
        g = np.asarray(stats.grad, dtype=np.float64)
        norm = math.sqrt(sq_norm(g))
        self.direction = g / norm if math.isfinite(norm) and norm > 0.0 else None
        return along

    def restart(self) -> None:
        """A new run: no direction, the average forgotten."""
        self.direction = None
        self._m = self._weight = 0.0
        self.last = math.nan

    def state(self) -> dict[str, Any]:
        """JSON-ready state besides the direction (floats round-trip exactly through repr)."""
        return {"along_m": self._m, "along_weight": self._weight, "along_last": self.last}

    def load_state(self, state: dict[str, Any], direction: np.ndarray | None) -> None:
        self._m = float(state["along_m"])
        self._weight = float(state["along_weight"])
        self.last = float(state["along_last"])
        self.direction = None if direction is None else np.array(direction, dtype=np.float64)


def along_columns(schedule: Any) -> dict[str, float]:
    """The ``/rounds`` column ``noise_along`` of a schedule with an :class:`AlongEstimator`
    (``along``); none for any other."""
    along = getattr(schedule, "along", None)
    return {"noise_along": along.last} if along is not None else {}
