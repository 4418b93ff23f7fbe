"""Local SGD with an adaptive inner batch (``--algo local-sgd --schedule adaptive``): the norm
test decides the batch of each round from statistics of the round's own inner steps.

An observing schedule decides its next batch after an Allreduce, so here it is indexed by the
*round* ``r``: all ``h <= H`` inner steps of round ``r`` draw ``B_r`` samples (as the local
batch of Lau et al. 2024 changes only when the workers synchronise), and a round runs
``h = min(H, floor((T - used) / B_r))`` steps of it (Algorithm 1's budget rule step by step;
the last round is not filled up to ``T``).

**The statistics the round carries.** Worker ``i``'s inner step ``s`` computes ``g_i^s``, the
mean gradient of ``B_r`` samples at its local point. The schedule's slots of every step
(``||g_i^s||^2`` across workers, or the within-batch variance ``tr Sigma_i`` within workers)
are averaged over the worker's ``h`` steps and ride after the summed gradient
``s_i = sum_s g_i^s`` in the round's one Allreduce. Treating the ``N h`` step gradients as
independent estimates of one gradient ``grad f`` with covariance ``Sigma / B_r``::

    E (1/(N h)) sum_{i,s} ||g_i^s||^2 = ||grad f||^2 + tr(Sigma) / B_r
    E ||gbar||^2                      = ||grad f||^2 + tr(Sigma) / (N h B_r)

with ``gbar = (1/N) sum_i s_i / h`` the round's averaged gradient: this is the cross-worker
estimate of parallel SGD with ``N h`` workers: the schedule observes ``RoundStats(r, B_r, gbar,
slots, N h)``, and its norm test then asks ``B_(r+1) >= tr(Sigma) / (N eta^2 ||grad f||^2)`` as
for CR-PSGD. The estimate is exact for ``H = 1`` (Local SGD is then parallel SGD); with ``H >
1`` the local points drift apart within a round, and the drift counts as noise: the test errs
towards larger batches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crpsgd.algorithms.control import Resume
from crpsgd.algorithms.driver import Driver
from crpsgd.algorithms.local_sgd import LocalSGD
from crpsgd.problems.base import Problem
from crpsgd.schedules.observed import noise_columns
from crpsgd.schedules.schedule import LocalStats, RoundStats, Schedule


class AdaptiveLocalSGD(LocalSGD):
    """Local SGD whose round ``r`` takes the batch ``schedule.batch(r)`` of an observing
    schedule, which sees the round's statistics after its Allreduce (module docstring)."""

    def __init__(self, problem: Problem, period: int, budget: int, schedule: Schedule) -> None:
        super().__init__(problem, schedule.batch(1), period, budget)
        self.schedule = schedule

    def start(self, driver: Driver, x0: np.ndarray) -> None:
        super().start(driver, x0)
        m, self.slots = self.x.size, int(self.schedule.extra_slots)
        self.buf = np.empty(m + self.slots, dtype=self.x.dtype)
        self.acc, self.extra = self.buf[:m], self.buf[m:]
        self.step_slots = np.empty(self.slots, dtype=self.x.dtype)
        self.gbar = np.empty_like(self.x)

    def restore(self, driver: Driver, resume: Resume | None) -> None:
        if resume is not None and "schedule" in resume.state:
            self.schedule.load_state(resume.state["schedule"])
        self.r, self.used, self.n_workers = (
            driver.rounds_done + 1,
            driver.sfo_done,
            driver.comm.size,
        )

    def next_round(self, driver: Driver) -> int | None:
        b = int(self.schedule.batch(self.r))
        if b < 1:
            raise ValueError(f"schedule gave batch size {b} at round {self.r}")
        h = min(self.round_period(driver), (self.budget - self.used) // b)
        if h <= 0:
            return None
        self.local_steps = h
        return b

    def local_work(self, driver: Driver, batch: int, gamma: float) -> np.ndarray:
        problem, rng, h, sched = self.problem, driver.rng, self.local_steps, self.schedule
        x_local, acc, grad, extra = self.x_local, self.acc, self.grad, self.extra
        x_local[:] = self.x
        extra[:] = 0.0
        for step in range(h):
            idx = problem.sample_batch(rng, batch)
            g = acc if step == 0 else grad
            problem.stochastic_grad(x_local, idx, g)
            if step:
                acc += grad
            if self.slots:
                sched.fill_slots(
                    self.step_slots, LocalStats(self.r, batch, g, x_local, idx, problem)
                )
                extra += self.step_slots
            if step + 1 < h:  # the last local step is replaced by the averaged one
                np.multiply(g, gamma, out=grad)
                x_local -= grad
        extra /= h
        return self.buf

    def apply(self, driver: Driver, batch: int, gamma: float) -> None:
        h, r = self.local_steps, self.r
        np.multiply(self.acc, 1.0 / h, out=self.gbar)
        self.schedule.observe(r, RoundStats(r, batch, self.gbar, self.extra, self.n_workers * h))
        self.problem.apply_step(self.x, self.acc, gamma)
        self.used += batch * h
        self.r = r + 1

    def columns(self) -> dict[str, float]:
        return {**noise_columns(self.schedule), "budget_fill": 0}

    def checkpoint_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        state = self.schedule.state()
        return {}, ({"schedule": state} if state else {})
