"""The adaptive schedule with the inner-product test: ``--schedule adaptive --adaptive-test
inner-product``.

**The rule** (Bollapragada, Byrd & Nocedal 2018, distributed: the batch of the round's
average is ``N B``). With ``tr(Sigma)`` and ``||grad f||^2`` from the norm test's estimator
(:mod:`crpsgd.schedules.noise`) and ``u^T Sigma u``, the noise along the previous round's averaged
gradient (:mod:`crpsgd.schedules.inner_product`), all three smoothed, the inner-product test asks
``u^T Sigma u / (N B) <= eta^2 ||grad f||^2`` and its companion, the orthogonality test,
``(tr(Sigma) - u^T Sigma u) / (N B) <= nu^2 ||grad f||^2``. The smallest batch passing both::

    B_{t+1} = clip(ceil(max(u^T Sigma u / eta^2, (tr(Sigma) - u^T Sigma u)_+ / nu^2)
                        / (N ||grad f||^2)), B_t, floor(max_growth B_t))

(:func:`inner_product_batch`). Until a direction exists (the decision after round 1) and
wherever the estimate along it is not finite, the norm test decides. ``nu`` defaults to
``tan(80 deg)``, the value of the paper's experiments; ``eta`` is the norm test's (the
paper's ``theta``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from crpsgd.errors import UsageError
from crpsgd.params import Param
from crpsgd.problems.base import Problem
from crpsgd.schedules.adaptive import (
    DEFAULT_ETA,
    DEFAULT_MAX_GROWTH,
    DEFAULT_NOISE_EMA,
    AdaptiveBatch,
)
from crpsgd.schedules.inner_product import AlongEstimator
from crpsgd.schedules.noise import NoiseEstimator
from crpsgd.schedules.sample_noise import logistic_base
from crpsgd.schedules.schedule import LocalStats, RoundStats

ADAPTIVE_TESTS = ("norm", "inner-product")
DEFAULT_NU = math.tan(math.radians(80.0))  # 5.67128...: the paper's orthogonality bound

__all__ = ["ADAPTIVE_TESTS", "DEFAULT_NU", "PARAMS", "InnerProductBatch", "inner_product_batch"]


def _nu_range(v: float) -> str | None:
    return None if 1e-100 <= v <= 1e100 else "must be in [1e-100, 1e100] (nu^2 > 0 and finite)"


PARAMS: tuple[Param, ...] = (
    Param(
        "adaptive_test",
        str,
        "norm",
        "adaptive growth: norm (all of the noise against ||grad f||^2) or inner-product (the "
        "noise along the previous round's averaged gradient against eta, across it against "
        "nu; Bollapragada, Byrd & Nocedal 2018)",
        ADAPTIVE_TESTS,
    ),
    Param(
        "nu",
        float,
        DEFAULT_NU,
        "adaptive-test inner-product: the orthogonality test's bound, "
        "(tr(Sigma) - u^T Sigma u)/(N B) <= nu^2 ||grad f||^2; tan 80 deg, the paper's",
        check=_nu_range,
    ),
)


def inner_product_batch(
    batch: int,
    n_workers: int,
    eta: float,
    nu: float,
    max_growth: float,
    trace: float,
    along: float,
    grad_sq: float,
) -> int:
    """``clip(ceil(max(along/eta^2, (trace - along)_+/nu^2) / (N grad_sq)), B, floor(max_growth
    B))``; the norm test's :func:`~crpsgd.schedules.adaptive.next_batch` when ``along`` is not
    finite, and ``B`` unless ``trace`` and ``grad_sq`` are finite and positive."""
    top = max(batch, math.floor(max_growth * batch))
    if not (math.isfinite(trace) and math.isfinite(grad_sq) and trace > 0 and grad_sq > 0):
        return batch
    if math.isfinite(along):
        along = min(max(along, 0.0), trace)
        need = max(along / (eta * eta), (trace - along) / (nu * nu))
    else:
        need = trace / (eta * eta)
    want = need / (n_workers * grad_sq)
    if not want < top:
        return top
    return max(batch, math.ceil(want))


class InnerProductBatch(AdaptiveBatch):
    """:class:`~crpsgd.schedules.adaptive.AdaptiveBatch` deciding by the inner-product and
    orthogonality tests: the norm test's slot, then two of
    :class:`~crpsgd.schedules.inner_product.AlongEstimator`. The direction is kept for checkpoints
    as an array (:meth:`checkpoint_arrays`)."""

    def __init__(
        self,
        b1: int,
        n_workers: int | None = None,
        eta: float = DEFAULT_ETA,
        max_growth: float = DEFAULT_MAX_GROWTH,
        noise_ema: float = DEFAULT_NOISE_EMA,
        noise_source: str = "auto",
        problem: Problem | None = None,
        nu: float = DEFAULT_NU,
    ) -> None:
        complaint = _nu_range(nu)
        if complaint:
            raise UsageError(f"--nu {nu!r}: {complaint}")
        self.nu = float(nu)
        self.along: AlongEstimator | None = None
        super().__init__(b1, n_workers, eta, max_growth, noise_ema, noise_source, problem)

    def bind(self, n_workers: int, problem: Problem | None = None) -> None:
        """:meth:`AdaptiveBatch.bind`, and refuses the within-worker estimate along ``u`` on a
        problem without per-sample projections (torch problems: N >= 2 needed)."""
        super().bind(n_workers, problem)
        source = self.noise.source
        if source == "samples" and problem is not None and not _has_projections(problem):
            raise UsageError(
                f"--adaptive-test inner-product with the within-worker estimate (one worker, or "
                f"--noise-source samples) needs a linear-model problem; {type(problem).__name__} "
                "has no per-sample projections: run on N >= 2 workers with --noise-source workers"
            )
        self.along = AlongEstimator(self.n_workers, source, self.noise_ema)

    def restart(self) -> None:
        super().restart()
        if self.along is not None:
            self.along.restart()

    @property
    def extra_slots(self) -> int:  # type: ignore[override]
        return NoiseEstimator.slots + AlongEstimator.slots

    def _along(self) -> AlongEstimator:
        self._estimator()
        return self.along

    def fill_slots(self, view: Any, local_stats: LocalStats) -> None:
        self._estimator().fill(view[: NoiseEstimator.slots], local_stats)
        self._along().fill(view[NoiseEstimator.slots :], local_stats)

    def observe(self, t: int, round_stats: RoundStats) -> None:
        """Round ``t`` is done: update both estimates and decide ``B_{t+1}``."""
        along = self._along()
        if t != len(self._batches):
            raise ValueError(f"observed round {t}, expected round {len(self._batches)}")
        k = NoiseEstimator.slots
        est = self.noise.update(_with_slots(round_stats, round_stats.slots[:k]))
        along.update(_with_slots(round_stats, round_stats.slots[k:]))
        b = self._batches[-1]
        self._batches.append(
            inner_product_batch(
                b,
                self.n_workers,
                self.eta,
                self.nu,
                self.max_growth,
                est.trace_avg,
                along.average,
                est.grad_sq_avg,
            )
        )

    def state(self) -> dict[str, Any]:
        return {**super().state(), "along": self._along().state()}

    def load_state(self, state: dict[str, Any]) -> None:
        if "along" not in state:
            raise UsageError(
                "the checkpoint's adaptive schedule used the norm test, not --adaptive-test "
                "inner-product"
            )
        super().load_state(state)
        self._along().load_state(state["along"], None)

    def checkpoint_arrays(self) -> dict[str, np.ndarray]:
        """The arrays a checkpoint keeps besides :meth:`state`: the next round's direction."""
        u = self._along().direction
        return {} if u is None else {"adaptive_direction": u}

    def load_checkpoint_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """After :meth:`load_state`: the direction :meth:`checkpoint_arrays` kept (none if
        absent: the checkpoint was taken before the first round's end)."""
        u = arrays.get("adaptive_direction")
        self._along().direction = None if u is None else np.array(u, dtype=np.float64)


def _with_slots(stats: RoundStats, slots: np.ndarray) -> RoundStats:
    return RoundStats(stats.t, stats.batch, stats.grad, slots, stats.n_workers)


def _has_projections(problem: Problem) -> bool:
    return logistic_base(problem) is not None
