"""Batch-size schedules: the per-worker minibatch size ``B_t`` of round ``t`` (1-based).

A schedule object has ``batch(t) -> int`` for the next round ``t``, and the observing
interface of :class:`Schedule` (whose defaults make a schedule pure): ``extra_slots`` float
slots that the round's buffer carries after the gradient, ``fill_slots(view, local)`` writing
this rank's contributions into them before the round's one Allreduce, ``observe(t, stats)``
called on every rank after it with the slots averaged over ranks and the averaged gradient
(:class:`RoundStats`), so that an adaptive schedule can choose ``B_{t+1}``, and ``state()`` /
``load_state()`` for checkpoints. :class:`ConstantBatch` (PSGD(B)) and
:class:`ExponentialBatch` (CR-PSGD) are pure functions of ``t``; a plain callable
``schedule(t)`` or an int still works (:func:`as_schedule`).

The budget rule of CR-PSGD (Algorithm 1 of Yu & Jin, 2019) is separate from the schedule:
:func:`rounds_within_budget` yields ``B_1, B_2, ...`` as long as ``B_1 + ... + B_t <= T``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

BatchSchedule = Callable[[int], int]


@dataclass(frozen=True)
class LocalStats:
    """What :meth:`Schedule.fill_slots` sees on one rank before the Allreduce of round ``t``:
    ``grad`` is this rank's own minibatch-mean gradient ``g_i`` of ``batch`` samples
    (regulariser included); ``x`` the point, ``idx`` the sampled local rows and ``problem``
    the problem, for statistics that need the per-sample gradients (None when not given)."""

    t: int
    batch: int
    grad: np.ndarray
    x: np.ndarray | None = None
    idx: np.ndarray | None = None
    problem: Any = None


@dataclass(frozen=True)
class RoundStats:
    """What :meth:`Schedule.observe` sees on every rank after the Allreduce of round ``t``:
    ``grad`` is the averaged gradient ``g = (1/N) sum_i g_i`` and ``slots`` the extra slots
    averaged over the ``n_workers`` ranks (e.g. ``(1/N) sum_i ||g_i||^2``). Both are views
    into the round's buffer, valid only during the call (the step overwrites them)."""

    t: int
    batch: int
    grad: np.ndarray
    slots: np.ndarray
    n_workers: int


class Schedule:
    """The observing interface with the defaults of a pure schedule: no extra slots, nothing
    observed, no state. A subclass defines ``batch(t)`` (or ``__call__``)."""

    extra_slots: int = 0

    def batch(self, t: int) -> int:
        return self(t)

    def __call__(self, t: int) -> int:
        return self.batch(t)

    def fill_slots(self, view: np.ndarray, local: LocalStats) -> None:
        """Write this rank's ``extra_slots`` values into ``view`` (averaged by the round)."""

    def observe(self, t: int, stats: RoundStats) -> None:
        """See the round's reduced statistics after its Allreduce (every rank, same values)."""

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state a checkpoint keeps (floats round-trip exactly)."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from what :meth:`state` returned."""

    def batch_table(self, t: int, used: int, budget: int, out: np.ndarray) -> int | None:
        """Tabulate ahead, for compiled rounds: write ``B_t, B_(t+1), ...`` of the rounds that
        still fit the per-worker ``budget`` after ``used`` SFO (the rule of
        :func:`rounds_within_budget`) into ``out``, at most ``out.size``; return how many.
        None when the batches are not a function of the round alone (the schedule has slots,
        observes rounds or keeps an estimate): then rounds must ask :meth:`batch` one by one."""
        cls = type(self)
        if (
            int(self.extra_slots)
            or hasattr(self, "last")
            or cls.observe is not Schedule.observe
            or cls.fill_slots is not Schedule.fill_slots
        ):
            return None
        count = 0
        while count < out.size:
            b = int(self.batch(t + count))
            if b < 1:
                raise ValueError(f"schedule gave batch size {b} at round {t + count}")
            if used + b > budget:
                break
            used += b
            out[count] = b
            count += 1
        return count

    def block_noise(self) -> Any:
        """The noise estimator whose update compiled rounds compute themselves (the spread
        across workers, :class:`~crpsgd.schedules.noise.NoiseEstimator`), or None: none to
        update."""
        return None


@dataclass(frozen=True)
class FunctionSchedule(Schedule):
    """A plain callable ``t -> B_t`` as a pure :class:`Schedule`."""

    function: BatchSchedule

    def batch(self, t: int) -> int:
        return self.function(t)


@dataclass(frozen=True)
class ConstantBatch(Schedule):
    """PSGD(B): ``B_t = B`` for every round."""

    size: int

    def batch(self, t: int) -> int:
        return self.size

    def batch_table(self, t: int, used: int, budget: int, out: np.ndarray) -> int | None:
        b = int(self.size)
        if out.size and b < 1:
            raise ValueError(f"schedule gave batch size {b} at round {t}")
        count = min(out.size, (budget - used) // b) if out.size and used + b <= budget else 0
        out[:count] = b
        return count


@dataclass(frozen=True)
class ExponentialBatch(Schedule):
    """CR-PSGD: ``B_t = floor(rho^(t-1) * B_1)`` with ``rho > 1``.

    The power is computed in exact rational arithmetic on the decimal value of ``rho`` (the
    shortest decimal that round-trips the float, i.e. what the user wrote), so the floor is
    exact even where ``rho^(t-1) * B_1`` is an integer: ``floor(1.2^3 * 125) = 216``, which
    floating point gets wrong (``215``).
    """

    b1: int
    rho: float

    def batch(self, t: int) -> int:
        if t < 1:
            raise ValueError(f"round index t={t} must be >= 1")
        approx = self.rho ** (t - 1) * self.b1
        # pow and the product are within a few ulps of the exact value: the float floor is
        # right unless the value sits next to an integer (or is beyond float's integers)
        if approx < 2.0**50 and abs(approx - round(approx)) > 1e-9 * max(approx, 1.0):
            return math.floor(approx)
        return math.floor(Fraction(repr(self.rho)) ** (t - 1) * self.b1)


def as_schedule(schedule: Schedule | BatchSchedule | int) -> Schedule:
    """A plain int means a constant batch, as optax's ``MultiSteps`` does for its period; a
    plain callable a pure schedule."""
    if isinstance(schedule, int):
        return ConstantBatch(schedule)
    if isinstance(schedule, Schedule) or hasattr(schedule, "observe"):
        return schedule
    return FunctionSchedule(schedule)


def rounds_within_budget(
    schedule: Schedule | BatchSchedule | int,
    budget: int,
    start: int = 1,
    used: int | None = None,
) -> Iterator[int]:
    """Batch sizes ``B_start, B_start+1, ...`` of the rounds that fit the per-worker SFO budget.

    Round ``t`` runs only if ``B_1 + ... + B_t <= budget`` (SFO per worker); the first round
    that would exceed it ends the run, even if a later, smaller batch would fit.
    ``start > 1`` resumes after round ``start - 1``; ``used`` is the SFO its earlier rounds
    spent (recomputed from the schedule when None, which only a pure schedule allows).
    ``B_{t+1}`` is asked for only after the caller has finished round ``t``.
    """
    schedule = as_schedule(schedule)
    if used is None:
        used = sum(schedule.batch(s) for s in range(1, start))
    t = start
    while True:
        b = schedule.batch(t)
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
