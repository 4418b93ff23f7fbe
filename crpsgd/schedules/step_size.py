"""Step-size rules: ``gamma_t = step_size(s)`` for the round that starts after ``s``
stochastic gradients per worker (the run's count, so Catalyst's inner runs continue it; ``0``
in the first round). Measuring in SFO means a rule says the same thing for every batch-size
schedule and every ``N``.

- :class:`ConstantStep` -- ``gamma`` (the paper's rule; CR-PSGD grows ``B_t`` instead); it
  returns the same float every round, so the update is bit for bit the one of a constant
  ``gamma``;
- :class:`StepDecay` -- ``gamma * factor^k`` with ``k`` the number of fractions ``f`` of the
  budget ``T`` with ``s >= f T`` (the usual ResNet baseline: ``gamma/10`` at 50% and 75%);
- :class:`LinearWarmup` -- a rule scaled by ``start + (1 - start) min(1, s / W)``: from
  ``start * gamma`` at ``s = 0`` linearly up to the rule itself at ``s = W`` SFO.

The rule of a run comes from the common parameters ``--lr-schedule constant|step``,
``--decay-at``, ``--decay-factor``, ``--warmup``, ``--warmup-start`` (every problem and
algorithm: :func:`step_size_from_config`). The loops take a :class:`StepSize` (or a plain
number, a constant rule) and log every round's ``gamma_t`` in ``/rounds/step_size``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from crpsgd.errors import UsageError


class StepSize(Protocol):
    def __call__(self, sfo: int) -> float: ...


@dataclass(frozen=True)
class ConstantStep:
    """``gamma_t = gamma`` for every round."""

    gamma: float

    def __call__(self, sfo: int) -> float:
        return self.gamma

    def table(self, sfo_before: np.ndarray) -> np.ndarray:
        """The step sizes of rounds that start after ``sfo_before`` SFO per worker (for
        compiled rounds; a rule that cannot be tabulated has no ``table`` or returns None)."""
        return np.full(len(sfo_before), self.gamma)


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

    def table(self, sfo_before: np.ndarray) -> np.ndarray:
        return np.array([self(int(s)) for s in sfo_before], dtype=np.float64)


@dataclass(frozen=True)
class LinearWarmup:
    """``base(s) * (start + (1 - start) * min(1, s / sfo))``."""

    base: StepSize
    sfo: int
    start: float = 0.1

    def __call__(self, sfo_before: int) -> float:
        ramp = min(1.0, sfo_before / self.sfo)
        return self.base(sfo_before) * (self.start + (1.0 - self.start) * ramp)

    def table(self, sfo_before: np.ndarray) -> np.ndarray | None:
        """None when the rule it scales cannot be tabulated."""
        base = getattr(self.base, "table", None)
        if base is None or base(sfo_before[:0]) is None:
            return None
        return np.array([self(int(s)) for s in sfo_before], dtype=np.float64)


def as_step_size(rule: StepSize | float) -> StepSize:
    """A number means a constant step size."""
    return rule if callable(rule) else ConstantStep(float(rule))


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


def step_size_from_config(cfg: dict[str, Any], gamma: float) -> StepSize:
    """The run's rule around its step size ``gamma`` (``--gamma`` or its ``auto`` value);
    a configuration without the step-size parameters (older checkpoints) is constant."""
    return make_step_size(
        gamma,
        cfg["T"],
        cfg.get("lr_schedule", "constant"),
        cfg.get("decay_at", "0.5,0.75"),
        cfg.get("decay_factor", 0.1),
        cfg.get("warmup", 0),
        cfg.get("warmup_start", 0.1),
    )
