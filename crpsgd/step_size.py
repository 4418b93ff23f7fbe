"""Step-size rules: ``gamma_t = step_size(sfo)`` for the round that starts after ``sfo``
stochastic gradients per worker (the run's count, so Catalyst's inner runs continue it).

The loops take a :class:`StepSize` (or a plain number, a constant rule) and log every round's
``gamma_t`` in ``/rounds/step_size``. The default is :class:`ConstantStep`, which returns the
same float every round, so the update is bit for bit the one of a constant ``gamma``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class StepSize(Protocol):
    def __call__(self, sfo: int) -> float: ...


@dataclass(frozen=True)
class ConstantStep:
    """``gamma_t = gamma`` for every round."""

    gamma: float

    def __call__(self, sfo: int) -> float:
        return self.gamma


def as_step_size(rule: StepSize | float) -> StepSize:
    """A number means a constant step size."""
    return rule if callable(rule) else ConstantStep(float(rule))


def step_size_from_config(cfg: dict[str, Any], gamma: float) -> StepSize:
    """The run's rule around its step size ``gamma`` (``--gamma`` or its ``auto`` value)."""
    return ConstantStep(gamma)
