"""Batch-size schedules: pure functions of the 1-based round index ``t``.

A schedule maps ``t`` to the per-worker minibatch size ``B_t`` of round ``t``. The budget rule
of CR-PSGD (Algorithm 1 of Yu & Jin, 2019) is separate from the schedule:
:func:`rounds_within_budget` yields ``B_1, B_2, ...`` as long as ``B_1 + ... + B_t <= T``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

BatchSchedule = Callable[[int], int]


@dataclass(frozen=True)
class ConstantBatch:
    """PSGD(B): ``B_t = B`` for every round."""

    batch: int

    def __call__(self, t: int) -> int:
        return self.batch


@dataclass(frozen=True)
class ExponentialBatch:
    """CR-PSGD: ``B_t = floor(rho^(t-1) * B_1)`` with ``rho > 1``.

    The power is computed in exact rational arithmetic on the decimal value of ``rho`` (the
    shortest decimal that round-trips the float, i.e. what the user wrote), so the floor is
    exact even where ``rho^(t-1) * B_1`` is an integer: ``floor(1.2^3 * 125) = 216``, which
    floating point gets wrong (``215``).
    """

    b1: int
    rho: float

    def __call__(self, t: int) -> int:
        if t < 1:
            raise ValueError(f"round index t={t} must be >= 1")
        approx = self.rho ** (t - 1) * self.b1
        # pow and the product are within a few ulps of the exact value: the float floor is
        # right unless the value sits next to an integer (or is beyond float's integers)
        if approx < 2.0**50 and abs(approx - round(approx)) > 1e-9 * max(approx, 1.0):
            return math.floor(approx)
        return math.floor(Fraction(repr(self.rho)) ** (t - 1) * self.b1)


def as_schedule(schedule: BatchSchedule | int) -> BatchSchedule:
    """A plain int means a constant batch, as optax's ``MultiSteps`` does for its period."""
    return ConstantBatch(schedule) if isinstance(schedule, int) else schedule


def rounds_within_budget(
    schedule: BatchSchedule | int, budget: int, start: int = 1
) -> Iterator[int]:
    """Batch sizes ``B_start, B_start+1, ...`` of the rounds that fit the per-worker SFO budget.

    Round ``t`` runs only if ``B_1 + ... + B_t <= budget`` (SFO per worker); the first round
    that would exceed it ends the run, even if a later, smaller batch would fit.
    ``start > 1`` resumes after round ``start - 1`` (the SFO of earlier rounds is recomputed).
    """
    schedule = as_schedule(schedule)
    used = sum(schedule(s) for s in range(1, start))
    t = start
    while True:
        b = schedule(t)
        if b < 1:
            raise ValueError(f"schedule gave batch size {b} at round {t}")
        if used + b > budget:
            return
        used += b
        yield b
        t += 1


def batch_sequence(schedule: BatchSchedule | int, budget: int) -> list[int]:
    """All batch sizes that :func:`rounds_within_budget` yields, as a list."""
    return list(rounds_within_budget(schedule, budget))


def predicted_rounds(b1: int, rho: float, budget: int) -> float:
    """Continuous approximation of CR-PSGD's round count: ``log_rho(1 + T (rho - 1) / B_1)``."""
    return math.log1p(budget * (rho - 1) / b1) / math.log(rho)
