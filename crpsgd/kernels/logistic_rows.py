"""Per-row scalar maths of the logistic kernels (see :mod:`crpsgd.kernels.logistic`):
the stable loss and gradient coefficient of one margin, and a row's dot product."""

from __future__ import annotations

import math

import numba

_JIT = {"cache": True, "nogil": True}
_FASTMATH = {"reassoc", "contract"}


@numba.njit(**_JIT)
def log1pexp(t: float) -> float:
    """``log(1 + exp(t))`` without overflow or cancellation, for any finite ``t``."""
    if t > 0.0:
        return t + math.log1p(math.exp(-t))
    return math.log1p(math.exp(t))


@numba.njit(**_JIT)
def logistic_loss_and_coef(m: float, yi: float) -> tuple[float, float]:
    """For margin ``m = y a.x``: ``(log(1 + exp(-m)), -y sigmoid(-m))`` from one ``exp``.

    With ``e = exp(-|m|)`` in ``(0, 1]``: ``log(1 + exp(-m)) = log1p(e) + max(-m, 0)`` and
    ``sigmoid(-m) = e / (1 + e)`` if ``m >= 0`` else ``1 / (1 + e)``.
    """
    e = math.exp(-abs(m))
    if m >= 0.0:
        return math.log1p(e), -yi * (e / (1.0 + e))
    return math.log1p(e) - m, -yi / (1.0 + e)


@numba.njit(**_JIT)
def _coef(m: float, yi: float) -> float:
    """``-y sigmoid(-m)`` for margin ``m``: the gradient coefficient, one ``exp``.

    ``sigmoid(-m) = e t`` if ``m >= 0`` else ``t``, with ``e = exp(-|m|)``, ``t = 1/(1 + e)``:
    both sides are computed and one is selected, without a branch, because the sign of the
    margin is as good as random within a minibatch and a mispredicted branch costs about as
    much as the ``exp``.
    """
    e = math.exp(-abs(m))
    t = 1.0 / (1.0 + e)
    return -yi * (e * t if m >= 0.0 else t)


@numba.njit(inline="always")
def _dot_dense_row(X, i, x):
    s = 0.0
    for j in range(X.shape[1]):
        s += X[i, j] * x[j]
    return s


@numba.njit(inline="always")
def _dot_csr_row(indptr, indices, data, i, x):
    s = 0.0
    for p in range(indptr[i], indptr[i + 1]):
        s += data[p] * x[indices[p]]
    return s
