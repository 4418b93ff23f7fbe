"""Numba kernels for deterministic penalty terms added to a stochastic gradient in place.

* Non-convex penalty (Antoniadis et al.; the usual test of non-convex SGD methods)::

      r(x) = lam * sum_j alpha x_j^2 / (1 + alpha x_j^2)
      dr/dx_j = lam * 2 alpha x_j / (1 + alpha x_j^2)^2

  Per coordinate, ``phi(t) = alpha t^2 / (1 + alpha t^2)`` has ``phi''(t) = 2 alpha (1 - 3u) /
  (1 + u)^3`` with ``u = alpha t^2``, which lies in ``[-alpha/2, 2 alpha]``: ``r`` is
  ``2 lam alpha``-smooth and not convex (its curvature reaches ``-lam alpha / 2``).

* Proximal term of Catalyst's subproblem ``h(x) = f(x) + (theta/2) ||x - y||^2``::

      grad_out += theta (x - y)

All arrays are float64 ``(d,)``; nothing is allocated; single-threaded, GIL released.
"""

from __future__ import annotations

import numba

__all__ = ["nonconvex_penalty_add", "proximal_add"]

_JIT = {"cache": True, "nogil": True}


@numba.njit(**_JIT)
def nonconvex_penalty_add(x, lam, alpha, grad_out):
    """Return ``lam sum_j alpha x_j^2 / (1 + alpha x_j^2)``; add its gradient to ``grad_out``."""
    value = 0.0
    for j in range(x.shape[0]):
        u = alpha * x[j] * x[j]
        inv = 1.0 / (1.0 + u)
        value += u * inv
        grad_out[j] += lam * 2.0 * alpha * x[j] * inv * inv
    return lam * value


@numba.njit(**_JIT)
def proximal_add(x, center, theta, grad_out):
    """``grad_out += theta (x - center)``; return ``(theta/2) ||x - center||^2``."""
    value = 0.0
    for j in range(x.shape[0]):
        diff = x[j] - center[j]
        value += diff * diff
        grad_out[j] += theta * diff
    return 0.5 * theta * value
