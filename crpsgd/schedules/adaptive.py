"""Batch growth that needs no ``rho``: the adaptive schedule, and the fixed schedule's warning.

**The rule.** After round ``t`` (per-worker batch ``B_t``, N workers) the averaged gradient
``gbar`` has noise ``E ||gbar - grad f||^2 = tr(Sigma) / (N B_t)``. The norm test (Byrd,
Chin, Nocedal & Wu 2012) asks that this be at most ``eta^2 ||grad f||^2``; the smallest
batch that passes is ``tr(Sigma) / (N eta^2 ||grad f||^2) = B_noise / (N eta^2)``, with the
smoothed estimates of :class:`crpsgd.schedules.noise.NoiseEstimator`. So::

    B_{t+1} = clip(ceil(tr(Sigma) / (N eta^2 ||grad f||^2)), B_t, floor(max_growth B_t))

never smaller than ``B_t``, at most ``max_growth`` times larger. Where an estimate is not
usable (not finite, or not positive: early rounds, ``B = 1`` within workers) the batch stays
``B_t``. The budget rule of Algorithm 1 stays in the loop: a round runs only if
``B_1 + ... + B_t <= T``.

**The fixed schedule's condition.** The analysis of CR-PSGD wants ``1 < rho < 1/(1 - gamma
mu)``; for l2-regularised logistic regression ``mu >= lambda``, so ``rho >= 1/(1 - gamma
lambda)`` certainly breaks it (:func:`rho_warning`).
"""

from __future__ import annotations

import math
from typing import Any

from crpsgd.errors import UsageError
from crpsgd.params import Param, all_of, at_most
from crpsgd.problems.base import Problem
from crpsgd.schedules.noise import NOISE_SOURCES, NoiseEstimate, NoiseEstimator
from crpsgd.schedules.rho_condition import rho_warning  # re-exported: the fixed schedule's check
from crpsgd.schedules.schedule import LocalStats, RoundStats, Schedule

DEFAULT_ETA = 1.0  # the minimax eta of make bench-adaptive's sweep (README "Choosing eta")
DEFAULT_MAX_GROWTH = 2.0
DEFAULT_NOISE_EMA = 0.9

__all__ = [
    "DEFAULT_ETA",
    "PARAMS",
    "AdaptiveBatch",
    "next_batch",
    "rho_warning",
]


def _positive(v: float) -> str | None:
    return None if math.isfinite(v) and v > 0 else "must be > 0"


def _at_least_one(v: float) -> str | None:
    return None if math.isfinite(v) and v >= 1 else "must be >= 1"


def _eta_range(v: float) -> str | None:
    return (
        None
        if 1e-100 <= v <= 1e100
        else "must be in [1e-100, 1e100] (eta^2 must be > 0 and finite)"
    )


def _ema(v: float) -> str | None:
    return None if 0 <= v < 1 else "must be in [0, 1)"


PARAMS: tuple[Param, ...] = (
    Param(
        "eta",
        float,
        DEFAULT_ETA,
        "adaptive growth: grow until the averaged gradient's noise tr(Sigma)/(N B) is at most "
        "eta^2 ||grad f||^2",
        check=all_of(_positive, _eta_range),
    ),
    Param(
        "max_growth",
        float,
        DEFAULT_MAX_GROWTH,
        "adaptive growth: B_{t+1} <= floor(max_growth B_t)",
        check=all_of(_at_least_one, at_most(2.0**20, "2^20: max_growth B_t must stay exact")),
    ),
    Param(
        "noise_ema",
        float,
        DEFAULT_NOISE_EMA,
        "smoothing beta of the noise estimates' moving averages (weight 1 - beta on the newest "
        "round; 0: none)",
        check=_ema,
    ),
    Param(
        "noise_source",
        str,
        "auto",
        "noise estimate: workers (spread of the N workers' minibatch means, N >= 2), samples "
        "(variance within each worker: per sample for the linear models; for torch over the "
        "batch's micro-batch chunks, at least 2, so B <= micro_batch runs as two halves and "
        "BatchNorm sees ghost batches of B/2), auto (workers if N >= 2, else samples)",
        NOISE_SOURCES,
    ),
)
_CHECKS = {p.name: p.check for p in PARAMS}


def next_batch(
    batch: int, n_workers: int, eta: float, max_growth: float, trace: float, grad_sq: float
) -> int:
    """``clip(ceil(trace / (N eta^2 grad_sq)), B, floor(max_growth B))``; ``B`` unless both
    estimates are finite and positive."""
    top = max(batch, math.floor(max_growth * batch))
    if not (math.isfinite(trace) and math.isfinite(grad_sq) and trace > 0 and grad_sq > 0):
        return batch
    want = trace / (n_workers * eta * eta * grad_sq)
    if not want < top:  # also inf
        return top
    return max(batch, math.ceil(want))


class AdaptiveBatch(Schedule):
    """``--schedule adaptive``: ``B_1 = b1``, then :func:`next_batch` after every round.

    Implements the observing schedule interface: ``batch(t)`` (also ``self(t)``) for any
    round already decided (``t <= rounds observed + 1``), ``extra_slots``, ``fill_slots``
    (before the Allreduce), ``observe`` (after it, on every rank, in round order), and
    ``state``/``load_state`` (JSON-ready; a loaded schedule continues bit for bit).
    ``n_workers`` (and ``problem``, for the within-worker estimate) may be given later with
    :meth:`bind`, as ``crpsgd run`` does once it knows them; :meth:`restart` begins a new
    run at ``B_1`` with fresh estimates (each inner run of Catalyst).
    """

    def __init__(
        self,
        b1: int,
        n_workers: int | None = None,
        eta: float = DEFAULT_ETA,
        max_growth: float = DEFAULT_MAX_GROWTH,
        noise_ema: float = DEFAULT_NOISE_EMA,
        noise_source: str = "auto",
        problem: Problem | None = None,
    ) -> None:
        for name, value in (("eta", eta), ("max_growth", max_growth)):
            complaint = _CHECKS[name](value)  # the table's constraint, declared once
            if complaint:
                raise UsageError(f"--{name.replace('_', '-')} {value!r}: {complaint}")
        if int(b1) < 1:
            raise UsageError(f"--b1 {b1!r}: must be >= 1")
        if not 0.0 <= noise_ema < 1.0:
            raise UsageError(f"--noise-ema {noise_ema!r}: must be in [0, 1)")
        self.b1 = int(b1)
        self.eta = float(eta)
        self.max_growth = float(max_growth)
        self.noise_ema = float(noise_ema)
        self.noise_source = noise_source
        self.n_workers = 0
        self.noise: NoiseEstimator | None = None
        self._batches = [self.b1]  # B_1 .. B_{observed + 1}
        if n_workers is not None:
            self.bind(n_workers, problem)

    def bind(self, n_workers: int, problem: Problem | None = None) -> None:
        """Set the rank count and the problem; refuses (UsageError) a noise source that
        cannot work there (``workers`` on one rank; one rank without a within-worker
        estimate, i.e. neither per-sample norms nor micro-batch chunks; the within-worker
        estimate with ``b1 = 1``, which would stay NaN and never grow the batch)."""
        self.n_workers = int(n_workers)
        self.noise = NoiseEstimator(n_workers, self.noise_source, self.noise_ema, problem)
        if self.noise.source == "none":
            raise UsageError(
                f"--schedule adaptive on one worker needs the within-worker gradient variance, "
                f"which {type(problem).__name__} does not have: run on N >= 2 workers"
            )
        if self.noise.source == "samples" and self.b1 < 2:  # a variance of one sample
            raise UsageError(
                f"--b1={self.b1}: --schedule adaptive with the within-worker noise estimate "
                "(one worker, or --noise-source samples) needs at least 2 samples per batch "
                "(the variance of one sample is undefined and the batch would never grow): "
                "use --b1 >= 2"
            )

    def restart(self) -> None:
        """A new run of the loop begins at round 1: ``B_1 = b1``, estimates forgotten."""
        self._batches = [self.b1]
        if self.noise is not None:
            self.noise = NoiseEstimator(
                self.n_workers, self.noise_source, self.noise_ema, self.noise.problem
            )

    #: Its last round takes all of the budget that is left (:mod:`crpsgd.schedules.budget_fill`).
    fills_budget = True

    def fill_last(self, t: int, batch: int) -> None:
        """Round ``t``, the next to run, takes ``batch`` (what is left of the budget)."""
        if t != len(self._batches):
            raise ValueError(f"round {t} is not the next round ({len(self._batches)})")
        self._batches[-1] = int(batch)

    @property
    def extra_slots(self) -> int:  # type: ignore[override]
        return NoiseEstimator.slots

    @property
    def last(self) -> NoiseEstimate | None:
        """The estimates of the last observed round (for the ``/rounds`` columns)."""
        return self.noise.last

    def batch(self, t: int) -> int:
        if not 1 <= t <= len(self._batches):
            raise ValueError(
                f"round {t}: the adaptive batch is known for rounds 1..{len(self._batches)} "
                "(observe each round before asking for the next)"
            )
        return self._batches[t - 1]

    __call__ = batch

    def _estimator(self) -> NoiseEstimator:
        if self.noise is None:
            raise ValueError("AdaptiveBatch: call bind(n_workers, problem) before the first round")
        return self.noise

    def fill_slots(self, view: Any, local_stats: LocalStats) -> None:
        self._estimator().fill(view, local_stats)

    def observe(self, t: int, round_stats: RoundStats) -> None:
        """Round ``t`` is done: update the estimates and decide ``B_{t+1}``."""
        self._estimator()
        if t != len(self._batches):
            raise ValueError(f"observed round {t}, expected round {len(self._batches)}")
        est = self.noise.update(round_stats)
        b = self._batches[-1]
        self._batches.append(
            next_batch(b, self.n_workers, self.eta, self.max_growth, est.trace_avg, est.grad_sq_avg)
        )

    def state(self) -> dict[str, Any]:
        return {"batches": list(self._batches), "noise": self._estimator().state()}

    def load_state(self, state: dict[str, Any]) -> None:
        batches = [int(b) for b in state["batches"]]
        if not batches or batches[0] != self.b1:
            raise UsageError(f"the checkpoint's adaptive schedule does not start at --b1 {self.b1}")
        self._estimator().load_state(state["noise"])
        self._batches = batches
