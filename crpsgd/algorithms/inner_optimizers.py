"""Optimizers of a worker's local steps on flat vectors (DiLoCo's inner optimizer).

Both follow PyTorch's definitions, at step size ``gamma`` (the run's ``--gamma`` rule), with
``g`` the minibatch gradient at the local point ``x``:

* ``sgd`` (``torch.optim.SGD``, dampening 0): ``d = g + wd x``; with momentum ``mu > 0``,
  ``v <- mu v + d`` and ``x <- x - gamma v``, else ``x <- x - gamma d``
  (:class:`~crpsgd.schedules.optim.SgdUpdate`);
* ``adamw`` (``torch.optim.AdamW``, Loshchilov & Hutter 2019): ``t <- t + 1``,
  ``x <- x (1 - gamma wd)``, ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
  ``x <- x - gamma (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`` with
  ``b1, b2, eps = 0.9, 0.999, 1e-8``.

Their state is the worker's own (it is not averaged, as in DiLoCo): it persists across rounds
and is kept per rank in checkpoints (:meth:`InnerOptimizer.state`).
"""

from __future__ import annotations

import numpy as np

from crpsgd.errors import UsageError
from crpsgd.schedules.optim import SgdUpdate

INNER_OPTIMIZERS = ("sgd", "adamw")


class InnerOptimizer:
    """One worker's optimizer of its local steps; ``grad`` is scratch (overwritten)."""

    def step(self, x: np.ndarray, grad: np.ndarray, gamma: float) -> None:
        raise NotImplementedError

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """This rank's arrays and the (rank-independent) counters a checkpoint keeps."""
        return {}, {}

    def load(self, arrays: dict[str, np.ndarray], counters: dict[str, int]) -> None:
        """Continue from what :meth:`state` gave."""


class InnerSGD(InnerOptimizer):
    def __init__(self, dim: int, dtype: np.dtype, momentum: float, weight_decay: float) -> None:
        self.update = SgdUpdate(dim, dtype, momentum, weight_decay)

    def step(self, x: np.ndarray, grad: np.ndarray, gamma: float) -> None:
        self.update(x, grad, gamma)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        velocity = self.update.velocity
        return ({"inner_velocity": velocity.copy()} if velocity is not None else {}), {}

    def load(self, arrays: dict[str, np.ndarray], counters: dict[str, int]) -> None:
        if self.update.velocity is not None:
            self.update.velocity[:] = arrays["inner_velocity"]


class InnerAdamW(InnerOptimizer):
    BETA1, BETA2, EPS = 0.9, 0.999, 1e-8

    def __init__(self, dim: int, dtype: np.dtype, weight_decay: float) -> None:
        if weight_decay < 0.0:
            raise UsageError(f"--weight-decay={weight_decay}: must be >= 0")
        self.weight_decay = float(weight_decay)
        self.m = np.zeros(dim, dtype=dtype)
        self.v = np.zeros(dim, dtype=dtype)
        self.work = np.empty(dim, dtype=dtype)
        self.t = 0

    def step(self, x: np.ndarray, grad: np.ndarray, gamma: float) -> None:
        b1, b2, m, v, work = self.BETA1, self.BETA2, self.m, self.v, self.work
        self.t += 1
        if self.weight_decay:
            x *= 1.0 - gamma * self.weight_decay
        m *= b1
        np.multiply(grad, 1.0 - b1, out=work)
        m += work
        np.multiply(grad, grad, out=work)
        work *= 1.0 - b2
        v *= b2
        v += work
        np.divide(v, 1.0 - b2**self.t, out=work)
        np.sqrt(work, out=work)
        work += self.EPS
        np.divide(m, work, out=work)
        work *= gamma / (1.0 - b1**self.t)
        x -= work

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        return {"inner_m": self.m.copy(), "inner_v": self.v.copy()}, {"inner_t": self.t}

    def load(self, arrays: dict[str, np.ndarray], counters: dict[str, int]) -> None:
        self.m[:] = arrays["inner_m"]
        self.v[:] = arrays["inner_v"]
        self.t = int(counters["inner_t"])


def make_inner_optimizer(
    name: str, dim: int, dtype: np.dtype, momentum: float = 0.0, weight_decay: float = 0.0
) -> InnerOptimizer:
    """The inner optimizer ``name`` (one of :data:`INNER_OPTIMIZERS`)."""
    if name == "sgd":
        return InnerSGD(dim, dtype, momentum, weight_decay)
    if name == "adamw":
        return InnerAdamW(dim, dtype, weight_decay)
    raise UsageError(f"--inner-optimizer={name}: must be one of {', '.join(INNER_OPTIMIZERS)}")
