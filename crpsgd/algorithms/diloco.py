"""DiLoCo (Douillard et al. 2023): local steps of an inner optimizer, then an outer Nesterov
step on the averaged parameter change.

Every rank runs, from the common point ``x`` and with a per-worker SFO budget ``T``::

    S = floor(T / b)                            # minibatch steps each worker can afford
    while S > 0:
        h = min(H, S)                           # the last period may be shorter
        x_i = x
        repeat h times:                         # inner steps, no communication
            x_i <- inner_step(x_i, (1/b) sum_{j <= b} grad F(x_i; zeta_ij))
        Delta = (1/N) sum_i (x - x_i)           # ONE Allreduce: the pseudo-gradient
        u <- mu u + Delta                       # outer momentum, the same on every rank
        x <- x - eta (Delta + mu u)             # outer Nesterov step (torch.optim.SGD, nesterov)
        S -= h

The inner optimizer (:mod:`crpsgd.algorithms.inner_optimizers`: SGD with momentum, or AdamW)
keeps its state on its worker across rounds, as DiLoCo's does; the outer learning rate
``eta`` and momentum ``mu`` default to the paper's 0.7 and 0.9. With ``eta = 1``, ``mu = 0``
and plain inner SGD the round is Local SGD's model average. The buffer sent is one
``m``-vector per round, as for Local SGD; the step size ``gamma`` of the inner steps is the
run's rule, read once per round from the SFO spent before it. With ``--schedule`` the
minibatch of each inner step grows by the schedule (:mod:`crpsgd.algorithms.inner_batches`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crpsgd.algorithms.control import Resume
from crpsgd.algorithms.driver import Driver
from crpsgd.algorithms.inner_optimizers import InnerOptimizer
from crpsgd.algorithms.local_sgd import LocalSGD
from crpsgd.problems.base import Problem
from crpsgd.schedules.schedule import BatchSchedule, Schedule


class DiLoCo(LocalSGD):
    """DiLoCo's part of the loop (see the module docstring): Local SGD's plan of rounds, its
    own inner steps and outer step. State besides ``x``: the outer momentum ``u`` (the same
    on every rank) and each rank's inner optimizer state."""

    def __init__(
        self,
        problem: Problem,
        inner: InnerOptimizer,
        batch: int,
        period: int,
        budget: int,
        outer_lr: float,
        outer_momentum: float,
        schedule: Schedule | BatchSchedule | None = None,
    ) -> None:
        super().__init__(problem, batch, period, budget, schedule)
        self.inner, self.outer_lr, self.outer_momentum = inner, outer_lr, outer_momentum

    def start(self, driver: Driver, x0: np.ndarray) -> None:
        self.x = np.array(x0, dtype=self.problem.dtype, copy=True)
        self.x_local = np.empty_like(self.x)
        self.delta = np.empty_like(self.x)  # x - x_i, then the averaged pseudo-gradient
        self.grad = np.empty_like(self.x)
        self.outer_velocity = np.zeros_like(self.x)
        self.work = np.empty_like(self.x)

    def restore(self, driver: Driver, resume: Resume | None) -> None:
        super().restore(driver, resume)
        if resume is not None:
            self.outer_velocity[:] = resume.arrays["outer_velocity"]
            self.inner.load(resume.rank_arrays(driver.comm.rank), resume.state)

    def local_work(self, driver: Driver, batch: int, gamma: float) -> np.ndarray:
        problem, rng, inner = self.problem, driver.rng, self.inner
        x_local, grad = self.x_local, self.grad
        x_local[:] = self.x
        for step in range(self.local_steps):
            idx = problem.sample_batch(rng, self.step_batch(step, batch))
            problem.stochastic_grad(x_local, idx, grad)
            inner.step(x_local, grad, gamma)
        np.subtract(self.x, x_local, out=self.delta)
        return self.delta

    def apply(self, driver: Driver, batch: int, gamma: float) -> None:
        mu, u, delta, work = self.outer_momentum, self.outer_velocity, self.delta, self.work
        u *= mu
        u += delta
        np.multiply(u, mu, out=work)
        work += delta
        work *= self.outer_lr
        self.x -= work
        self.round_applied()

    def checkpoint_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"outer_velocity": self.outer_velocity.copy()}, self.inner.state()[1]

    def rank_state(self) -> dict[str, np.ndarray]:
        return self.inner.state()[0]


class LocalOptimizerSGD(DiLoCo):
    """Local SGD whose local steps are each worker's own optimizer (its state kept on the
    worker), the models then averaged: DiLoCo with ``eta = 1`` and ``mu = 0``, as Lin et al.
    (2020) and PyTorch's ``PostLocalSGDOptimizer`` run Local SGD with momentum. With
    ``switch_at > 0`` the period is 1 until ``switch_at`` SFO per worker are spent (post-local
    SGD). With the inner ``sgd`` one such round is PSGD with that SGD on the averaged gradient
    in exact arithmetic (its update is linear in the gradient, the point and the buffer, and
    the buffers' mean follows the averaged gradients); with ``adamw`` it is not."""

    def __init__(
        self,
        problem: Problem,
        inner: InnerOptimizer,
        batch: int,
        period: int,
        budget: int,
        switch_at: int = 0,
        schedule: Schedule | BatchSchedule | None = None,
    ) -> None:
        super().__init__(problem, inner, batch, period, budget, 1.0, 0.0, schedule)
        self.switch_at = switch_at
