"""The fixed schedule's condition: the analysis of CR-PSGD wants ``1 < rho < 1/(1 - gamma mu)``;
for l2-regularised logistic regression ``mu >= lambda``, so ``rho >= 1/(1 - gamma lambda)``
certainly breaks it (:func:`rho_warning`)."""

from __future__ import annotations

import math

__all__ = ["rho_warning"]


def rho_warning(gamma: float, lam: float, rho: float) -> str | None:
    """The one-line warning when ``rho >= 1/(1 - gamma lam)`` (None otherwise).

    With ``mu >= lam`` (l2 logistic regression), ``1/(1 - gamma mu) <= 1/(1 - gamma lam)``, so
    such a ``rho`` breaks the analysis's ``rho < 1/(1 - gamma mu)``. No warning when
    ``gamma lam >= 1`` (no finite bound) or ``lam <= 0`` (no known ``mu``).
    """
    if not (gamma > 0 and lam > 0) or gamma * lam >= 1:
        return None
    bound = 1.0 / (1.0 - gamma * lam)
    if rho < bound:
        return None
    # enough digits to show bound - 1 to 4 significant digits
    digits = max(6, 4 - math.floor(math.log10(bound - 1.0)))
    text = f"{bound:.{digits}g}"
    return (
        f"rho >= 1/(1 − gamma lambda) = {text}: the analysis's condition "
        f"1 < rho < 1/(1 − gamma mu) fails with mu >= lambda; it wants rho < {text}"
    )
