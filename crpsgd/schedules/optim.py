"""The update of a flat parameter vector after the round's Allreduce (no torch needed).

The step-size rules (:class:`ConstantStep`, :class:`StepDecay`, :class:`LinearWarmup`,
:func:`make_step_size`) live in :mod:`crpsgd.schedules.step_size` and are re-exported here.

**Update** (:class:`SgdUpdate`), applied after the Allreduce to the averaged gradient ``g``,
identically on every rank (no communication), as ``torch.optim.SGD`` with dampening 0:
``d = g + wd x``; with momentum ``mu > 0`` (heavy ball) ``v <- mu v + d`` (``v`` starts at 0)
and ``x <- x - gamma v``, else ``x <- x - gamma d``. With ``mu = wd = 0`` it is exactly the
loop's plain step ``g *= gamma; x -= g``. Weight decay belongs to the update, not to the
objective: the logged objective is the data loss alone.
"""

from __future__ import annotations

import numpy as np

from crpsgd.errors import UsageError
from crpsgd.schedules.step_size import (
    ConstantStep,
    LinearWarmup,
    StepDecay,
    StepSize,
    make_step_size,
    parse_fractions,
)

__all__ = [
    "ConstantStep",
    "LinearWarmup",
    "SgdUpdate",
    "StepDecay",
    "StepSize",
    "make_step_size",
    "parse_fractions",
]


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
