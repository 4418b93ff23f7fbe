"""A toy algorithm registered from outside the package: PSGD with a heavy-ball step.

Loaded by ``crpsgd run`` with ``CRPSGD_PLUGINS=tests.toy_algorithm`` (no other file changes)::

    --algo toy-heavy-ball --batch B --hb-beta beta

Every round each worker averages the gradient of its own minibatch of ``B`` rows (one
Allreduce), and every rank applies the same heavy-ball step to the average ``g``::

    m <- beta m + g
    x <- x - gamma_t m

Rounds run while the per-worker SFO budget ``T`` holds another minibatch. The momentum ``m``
is the same on every rank, so it is the algorithm's checkpoint state (one array); every
round ends at a resumable point, so ``--checkpoint-every``, a stop signal and ``--resume``
work as for the built-in algorithms. The driver (:class:`crpsgd.algorithms.driver.Driver`)
does the rest: timing, ``/rounds`` rows, evaluations, progress, run control, resume.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crpsgd.algorithms.driver import Algorithm, Driver, run_algorithm
from crpsgd.builtin.constant import BATCH
from crpsgd.params import Param, at_least, check_first_batch
from crpsgd.registry.parts import AlgorithmPart, RunContext, register_algorithm

BETA = Param("hb_beta", float, 0.9, "heavy-ball momentum beta in [0, 1)", check=at_least(0.0))


class HeavyBall(Algorithm):
    """The algorithm's part of the loop: plan, local work, apply, state."""

    def __init__(self, problem: Any, batch: int, beta: float, budget: int) -> None:
        self.problem, self.batch, self.beta, self.budget = problem, batch, beta, budget

    def start(self, driver: Driver, x0: np.ndarray) -> None:
        self.x = np.array(x0, dtype=self.problem.dtype, copy=True)
        self.grad = np.empty_like(self.x)  # the round's buffer: this rank's, then the average
        self.momentum = np.zeros_like(self.x)

    def restore(self, driver: Driver, resume: Any) -> None:
        if resume is not None:
            self.momentum[:] = resume.arrays["momentum"]
        self.used = driver.sfo_done

    def next_round(self, driver: Driver) -> int | None:
        if self.used + self.batch > self.budget:
            return None
        self.used += self.batch
        return self.batch

    def local_work(self, driver: Driver, batch: int, gamma: float) -> np.ndarray:
        idx = self.problem.sample_batch(driver.rng, batch)
        self.problem.stochastic_grad(self.x, idx, self.grad)
        return self.grad

    def apply(self, driver: Driver, batch: int, gamma: float) -> None:
        self.momentum *= self.beta
        self.momentum += self.grad
        np.multiply(self.momentum, gamma, out=self.grad)
        self.x -= self.grad

    def checkpoint_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"momentum": self.momentum}, {}


def execute(ctx: RunContext) -> Any:
    cfg = ctx.cfg
    return run_algorithm(HeavyBall(ctx.problem, cfg["batch"], cfg["hb_beta"], cfg["T"]), ctx)


register_algorithm(
    AlgorithmPart(
        name="toy-heavy-ball",
        help="PSGD with a heavy-ball step (a test plugin)",
        execute=execute,
        params=(BATCH, BETA),
        check=lambda cfg: check_first_batch(cfg, "batch"),
    )
)
