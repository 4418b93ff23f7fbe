"""Step sizes per round and the update of a flat parameter vector (no torch needed).

**Step size.** A :data:`StepSize` is a callable ``gamma_t = step_size(s)`` of ``s``, the
per-worker SFO spent before the round (``0`` in the first round), so a schedule means the
same thing for every batch-size schedule and every ``N``:

- :class:`ConstantStep` -- ``gamma`` (the paper's rule; CR-PSGD grows ``B_t`` instead);
- :class:`StepDecay` -- ``gamma * factor^k`` with ``k`` the number of fractions ``f`` of the
  budget ``T`` with ``s >= f T`` (the usual ResNet baseline: ``gamma/10`` at 50% and 75%);
- :class:`LinearWarmup` -- a schedule scaled by ``start + (1 - start) min(1, s / W)``: from
  ``start * gamma`` at ``s = 0`` linearly up to the schedule itself at ``s = W`` SFO.

**Update** (:class:`SgdUpdate`), applied after the Allreduce to the averaged gradient ``g``,
identically on every rank (no communication), as ``torch.optim.SGD`` with dampening 0:
``d = g + wd x``; with momentum ``mu > 0`` (heavy ball) ``v <- mu v + d`` (``v`` starts at 0)
and ``x <- x - gamma v``, else ``x <- x - gamma d``. With ``mu = wd = 0`` it is exactly the
loop's plain step ``g *= gamma; x -= g``. Weight decay belongs to the update, not to the
objective: the logged objective is the data loss alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from crpsgd.errors import UsageError

StepSize = Callable[[int], float]


@dataclass(frozen=True)
class ConstantStep:
    gamma: float

    def __call__(self, sfo_before: int) -> float:
        return self.gamma


@dataclass(frozen=True)
class StepDecay:
    """``gamma * factor^k``, ``k = #{f in fractions : sfo_before >= f * budget}`` (exact:
    the fractions are compared as the decimals written, in rational arithmetic)."""

    gamma: float
    budget: int
    fractions: tuple[float, ...] = (0.5, 0.75)
    factor: float = 0.1

    def __post_init__(self) -> None:
        bounds = tuple(Fraction(str(f)) * self.budget for f in self.fractions)
        object.__setattr__(self, "_bounds", bounds)

    def __call__(self, sfo_before: int) -> float:
        k = sum(1 for b in self._bounds if sfo_before >= b)
        return self.gamma * self.factor**k


@dataclass(frozen=True)
class LinearWarmup:
    """``base(s) * (start + (1 - start) * min(1, s / sfo))``."""

    base: StepSize
    sfo: int
    start: float = 0.1

    def __call__(self, sfo_before: int) -> float:
        ramp = min(1.0, sfo_before / self.sfo)
        return self.base(sfo_before) * (self.start + (1.0 - self.start) * ramp)


def parse_fractions(text: str, flag: str = "--decay-at") -> tuple[float, ...]:
    """``"0.5,0.75"`` -> ``(0.5, 0.75)``: increasing fractions in (0, 1)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"{flag}={text}: expected fractions like 0.5,0.75") from None
    if not all(0.0 < v < 1.0 for v in values) or list(values) != sorted(set(values)):
        raise UsageError(f"{flag}={text}: fractions must increase and lie in (0, 1)")
    return values


def make_step_size(
    gamma: float,
    budget: int,
    schedule: str = "constant",
    decay_at: str = "0.5,0.75",
    decay_factor: float = 0.1,
    warmup_sfo: int = 0,
    warmup_start: float = 0.1,
) -> StepSize:
    """The step size of ``--lr-schedule constant|step`` (``--decay-at``, ``--decay-factor``)
    with an optional ``--warmup`` of ``warmup_sfo`` SFO from ``warmup_start * gamma``."""
    if schedule == "constant":
        step: StepSize = ConstantStep(gamma)
    elif schedule == "step":
        step = StepDecay(gamma, budget, parse_fractions(decay_at), decay_factor)
    else:
        raise UsageError(f"--lr-schedule={schedule}: expected constant or step")
    if warmup_sfo < 0:
        raise UsageError(f"--warmup={warmup_sfo}: must be >= 0")
    if not 0.0 <= warmup_start <= 1.0:
        raise UsageError(f"--warmup-start={warmup_start}: must be in [0, 1]")
    return LinearWarmup(step, warmup_sfo, warmup_start) if warmup_sfo > 0 else step


class SgdUpdate:
    """``x <- x - gamma (mu v + g + wd x)`` in place on flat arrays (see the module)."""

    def __init__(self, dim: int, dtype: np.dtype, momentum: float = 0.0, weight_decay: float = 0.0):
        if not 0.0 <= momentum < 1.0:
            raise UsageError(f"--momentum={momentum}: must be in [0, 1)")
        if weight_decay < 0.0:
            raise UsageError(f"--weight-decay={weight_decay}: must be >= 0")
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.velocity = np.zeros(dim, dtype=dtype) if momentum > 0 else None
        self._work = np.empty(dim, dtype=dtype) if momentum > 0 or weight_decay > 0 else None

    def __call__(self, x: np.ndarray, grad: np.ndarray, gamma: float) -> None:
        """Apply one step; ``grad`` is used as scratch (its values are not kept)."""
        if self._work is None:
            grad *= gamma
            x -= grad
            return
        if self.weight_decay:
            np.multiply(x, self.weight_decay, out=self._work)
            grad += self._work
        direction = grad
        if self.velocity is not None:
            self.velocity *= self.momentum
            self.velocity += grad
            direction = self.velocity
        np.multiply(direction, gamma, out=self._work)
        x -= self._work
