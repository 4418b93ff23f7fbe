"""Per-row scalar maths of the logistic kernels (see :mod:`crpsgd.kernels.logistic`):
the stable loss and gradient coefficient of one margin, and a row's dot product (the dense one
in the fixed lane order of :mod:`crpsgd.kernels.fixed_order`; ``exp`` and ``log1p`` those of
:mod:`crpsgd.kernels.elementary`, the same on every processor)."""

from __future__ import annotations

import numba

from crpsgd.kernels.elementary import exp, log1p
from crpsgd.kernels.fixed_order import dot_dense_row

_JIT = {"cache": True, "nogil": True}


@numba.njit(**_JIT)
def log1pexp(t: float) -> float:
    """``log(1 + exp(t))`` without overflow or cancellation, for any finite ``t``."""
    if t > 0.0:
        return t + log1p(exp(-t))
    return log1p(exp(t))


@numba.njit(**_JIT)
def logistic_loss_and_coef(m: float, yi: float) -> tuple[float, float]:
    """For margin ``m = y a.x``: ``(log(1 + exp(-m)), -y sigmoid(-m))`` from one ``exp``.

    With ``e = exp(-|m|)`` in ``(0, 1]``: ``log(1 + exp(-m)) = log1p(e) + max(-m, 0)`` and
    ``sigmoid(-m) = e / (1 + e)`` if ``m >= 0`` else ``1 / (1 + e)``.
    """
    e = exp(-abs(m))
    if m >= 0.0:
        return log1p(e), -yi * (e / (1.0 + e))
    return log1p(e) - m, -yi / (1.0 + e)


@numba.njit(**_JIT)
def _coef(m: float, yi: float) -> float:
    """``-y sigmoid(-m)`` for margin ``m``: the gradient coefficient, one ``exp``.

    ``sigmoid(-m) = e t`` if ``m >= 0`` else ``t``, with ``e = exp(-|m|)``, ``t = 1/(1 + e)``:
    both sides are computed and one is selected, without a branch, because the sign of the
    margin is as good as random within a minibatch and a mispredicted branch costs about as
    much as the ``exp``.
    """
    e = exp(-abs(m))
    t = 1.0 / (1.0 + e)
    return -yi * (e * t if m >= 0.0 else t)


_dot_dense_row = dot_dense_row  # the lane order of crpsgd.kernels.fixed_order


@numba.njit(inline="always")
def _dot_csr_row(indptr, indices, data, i, x):
    s = 0.0
    for p in range(indptr[i], indptr[i + 1]):
        s += data[p] * x[indices[p]]
    return s
