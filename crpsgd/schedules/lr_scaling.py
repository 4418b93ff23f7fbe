"""Learning-rate scaling with the batch (``--lr-scaling``): the factor ``s_t`` by which a
round's step size is multiplied, ``gamma_t = step_size(sfo) * s_t``.

With ``B_t`` the per-worker batch of round ``t``, ``B_1`` the loop's first batch (the
schedule's round 1) and ``S = B_t / B_1``:

- ``constant`` -- ``s_t = 1`` (the paper's rule: the step size does not follow the batch);
  no factor is applied at all, so the run is bit for bit what it was without the option;
- ``linear`` -- ``s_t = S`` (Goyal et al. 2017, "Accurate, large minibatch SGD");
- ``sqrt`` -- ``s_t = sqrt(S)`` (Krizhevsky 2014; Hoffer, Hubara & Soudry 2017);
- ``adascale`` -- AdaScale's gain (Johnson, Agrawal, Gu & Guestrin, ICML 2020)::

      r_t = (s2 + g2) / (s2 / S + g2),   s2 = tr(Sigma) / (N B_1),   g2 = ||grad f||^2

  ``s2`` is the variance of the first round's averaged gradient (the base batch ``N B_1`` of
  the gain) and ``g2`` the squared gradient norm, both from the moving averages of the noise
  estimate every schedule-driven run keeps (:mod:`crpsgd.schedules.noise`) after the previous
  round: no extra communication. ``r_t = 1`` before an estimate exists; a negative estimate
  counts as 0, so ``r_t`` lies between 1 and ``S`` (``S`` itself once the noise dominates).

All factors are pure numbers (unit 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crpsgd.errors import UsageError

LR_SCALINGS = ("constant", "linear", "sqrt", "adascale")


def adascale_gain(scale: float, s2: float, g2: float) -> float:
    """AdaScale's ``r = (s2 + g2) / (s2/scale + g2)`` for a batch ``scale`` times the base one,
    with ``s2`` the base batch's gradient variance and ``g2 = ||grad f||^2``; 1 when either is
    not finite or both are <= 0 (no estimate yet)."""
    if not (math.isfinite(s2) and math.isfinite(g2)):
        return 1.0
    s2, g2 = max(s2, 0.0), max(g2, 0.0)
    if s2 + g2 <= 0.0:
        return 1.0
    return (s2 + g2) / (s2 / scale + g2)


@dataclass(frozen=True)
class LrScaling:
    """The rule ``name`` (one of :data:`LR_SCALINGS` but ``constant``) on ``n_workers`` ranks."""

    name: str
    n_workers: int

    def __post_init__(self) -> None:
        if self.name not in LR_SCALINGS[1:]:
            raise UsageError(f"--lr-scaling={self.name}: expected one of {', '.join(LR_SCALINGS)}")

    @property
    def needs_noise(self) -> bool:
        """Whether the factor reads the noise estimate (``adascale``)."""
        return self.name == "adascale"

    def factor(self, batch: int, base_batch: int, trace: float, grad_sq: float) -> float:
        """``s_t`` of a round of ``batch`` samples per worker, the loop's first batch being
        ``base_batch``; ``trace`` (tr(Sigma), per sample) and ``grad_sq`` are the noise
        estimate's moving averages after the previous round (NaN: none yet)."""
        scale = batch / base_batch
        if self.name == "linear":
            return scale
        if self.name == "sqrt":
            return math.sqrt(scale)
        return adascale_gain(scale, trace / (self.n_workers * base_batch), grad_sq)

    def table(self, batches: np.ndarray, base_batch: int) -> np.ndarray | None:
        """The factors of rounds with these batches (for compiled rounds), or None where a
        factor depends on what the rounds measure (``adascale``)."""
        if self.name == "linear":
            return batches / base_batch
        if self.name == "sqrt":
            return np.sqrt(batches / base_batch)
        return None


def lr_scaling_from_config(cfg: dict, n_workers: int) -> LrScaling | None:
    """The run's rule, or None for ``constant`` (and configurations from before the option)."""
    name = cfg.get("lr_scaling", "constant")
    return None if name == "constant" else LrScaling(name, n_workers)
