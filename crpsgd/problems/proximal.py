"""The proximal wrapper of Catalyst: ``h(x; y) = f(x) + (theta/2) ||x - y||^2`` around any problem.

For a problem ``f`` and a centre ``y``, the wrapper is itself a :class:`Problem` whose
stochastic gradient of one sample is ``grad F(x; i) + grad r(x) + theta (x - y)``: the
proximal term is deterministic, so it costs no SFO call beyond the wrapped one. If ``f`` is
``L``-smooth with curvature at least ``-L``, ``h`` is ``(L + theta)``-smooth and, for
``theta > L``, ``(theta - L)``-strongly convex. The data sums (:meth:`local_sums`) are those of
``f``; the proximal term belongs to the regulariser. :meth:`set_center` moves ``y`` between
outer iterations without allocating.
"""

from __future__ import annotations

import numpy as np

from crpsgd.kernels.regularisers import proximal_add
from crpsgd.problems.base import Problem


class ProximalProblem(Problem):
    """``base(x) + (theta/2) ||x - center||^2``; ``theta > 0``."""

    def __init__(self, base: Problem, theta: float, center: np.ndarray) -> None:
        if not theta > 0:
            raise ValueError(f"theta={theta} must be > 0")
        self.base = base
        self.theta = float(theta)
        self.dim = base.dim
        self.n_local = base.n_local
        self.n_total = base.n_total
        self.smoothness_known = base.smoothness_known
        self.dtype = base.dtype
        self.center = np.array(center, dtype=np.float64, copy=True)
        if self.center.shape != (self.dim,):
            raise ValueError(f"center has shape {self.center.shape}, expected ({self.dim},)")

    def set_center(self, y: np.ndarray) -> None:
        """Move the centre to ``y`` (copied)."""
        self.center[:] = y

    def stochastic_grad(self, x: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
        self.base.stochastic_grad(x, idx, out)
        proximal_add(x, self.center, self.theta, out)

    def local_sums(self, x: np.ndarray, grad_out: np.ndarray) -> float:
        return self.base.local_sums(x, grad_out)

    def regulariser(self, x: np.ndarray, grad_out: np.ndarray) -> float:
        value = self.base.regulariser(x, grad_out)
        return value + float(proximal_add(x, self.center, self.theta, grad_out))

    def local_smoothness(self) -> float:
        return self.base.local_smoothness() + self.theta

    def count_correct(self, x: np.ndarray, dataset: object) -> int:
        return self.base.count_correct(x, dataset)

    def sample_batch(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        return self.base.sample_batch(rng, batch)

    def apply_step(self, x: np.ndarray, grad: np.ndarray, gamma: float) -> None:
        self.base.apply_step(x, grad, gamma)

    def state_arrays(self) -> dict[str, np.ndarray]:
        return self.base.state_arrays()

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.base.load_state_arrays(arrays)

    def before_evaluation(self, comm: object) -> None:
        self.base.before_evaluation(comm)
