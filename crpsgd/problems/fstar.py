"""The optimal value ``f*`` of l2 logistic regression by a distributed full-batch Newton method.

Deterministic: every iteration sums the shards' loss, gradient and Hessian with one
evaluation collective (not a round) and takes a damped Newton step
``x <- x - alpha H^{-1} grad f`` with Armijo backtracking. It stops when
``||grad f(x)|| <= tol``; since ``f`` is ``lam``-strongly convex, ``f(x) - f* <= ||grad f||^2 /
(2 lam)``, which the result reports as ``bound``. Every sum, the Hessian and the solve run in
the fixed order of :mod:`crpsgd.kernels.fixed_order` and :mod:`crpsgd.kernels.symmetric`,
not in BLAS or LAPACK, so ``f*`` has the same bits on every processor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crpsgd.comm.communicator import Communicator
from crpsgd.errors import UsageError
from crpsgd.kernels.fixed_order import dot, sq_norm
from crpsgd.kernels.symmetric import cholesky_solve
from crpsgd.problems.logreg import LogisticRegression

MAX_NEWTON_DIM = 4096


@dataclass(frozen=True)
class FStar:
    """``f*`` (objective units), the gradient norm reached, the bound on ``f(x) - f*`` and the
    Newton iterations taken."""

    value: float
    grad_norm: float
    bound: float
    iterations: int
    x: np.ndarray


def newton_fstar(
    problem: LogisticRegression, comm: Communicator, tol: float = 1e-10, max_iter: int = 100
) -> FStar:
    """Minimise ``problem`` over all ranks' shards to ``||grad f|| <= tol``."""
    d = problem.dim
    if d > MAX_NEWTON_DIM:
        raise UsageError(
            f"--fstar=auto: the Newton solver handles d <= {MAX_NEWTON_DIM} features, "
            f"this problem has {d}; pass --fstar VALUE or --fstar none"
        )
    if problem.lam <= 0:
        raise UsageError("--fstar=auto needs --lam > 0 (a strongly convex problem)")
    n = problem.n_total
    x = np.zeros(d)
    buf = np.empty(1 + d + d * d)

    def value(z: np.ndarray) -> float:
        grad = np.zeros(d)
        one = np.array([problem.local_sums(z, grad)])
        comm.eval_allreduce_sum_(one)
        return float(one[0] / n + 0.5 * problem.lam * sq_norm(z))

    it = 0
    for it in range(1, max_iter + 1):
        loss, grad, hess = problem.local_newton_terms(x)
        buf[0], buf[1 : d + 1], buf[d + 1 :] = loss, grad, hess.ravel()
        comm.eval_allreduce_sum_(buf)
        f = buf[0] / n + 0.5 * problem.lam * sq_norm(x)
        g = buf[1 : d + 1] / n + problem.lam * x
        gnorm = math.sqrt(sq_norm(g))
        if gnorm <= tol:
            return FStar(float(f), gnorm, gnorm**2 / (2 * problem.lam), it - 1, x)
        h = buf[d + 1 :].reshape(d, d) / n + problem.lam * np.eye(d)
        step = np.empty(d)
        if not cholesky_solve(h, g, step):
            break  # the Hessian lost definiteness to rounding: at the limit of float64
        alpha, slope = 1.0, dot(g, step)
        while alpha > 1e-12:
            f_new = value(x - alpha * step)
            if f_new <= f - 1e-4 * alpha * slope:
                break
            alpha *= 0.5
        else:
            break  # no decrease left: at the limit of float64
        x = x - alpha * step
    loss, grad, _ = problem.local_newton_terms(x)
    buf[0], buf[1 : d + 1] = loss, grad
    comm.eval_allreduce_sum_(buf[: d + 1])
    g = buf[1 : d + 1] / n + problem.lam * x
    gnorm = math.sqrt(sq_norm(g))
    f = buf[0] / n + 0.5 * problem.lam * sq_norm(x)
    return FStar(float(f), gnorm, gnorm**2 / (2 * problem.lam), it, x)
