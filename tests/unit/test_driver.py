"""The one round loop (crpsgd/algorithms/driver.py) with algorithms defined here."""

from __future__ import annotations

import numpy as np
import pytest

from crpsgd.algorithms.driver import Algorithm, Driver
from crpsgd.comm.communicator import Communicator
from crpsgd.data.rng import worker_rng
from tests.unit.test_local_sgd import make_problem


class Planned(Algorithm):
    """Rounds of the batches in ``plan``: plain SGD steps."""

    def __init__(self, problem, plan, local_steps=1):
        self.problem, self.plan, self.local_steps = problem, list(plan), local_steps

    def start(self, driver, x0):
        self.x = np.array(x0, dtype=float)
        self.grad = np.empty_like(self.x)

    def next_round(self, driver):
        return self.plan.pop(0) if self.plan else None

    def local_work(self, driver, batch, gamma):
        self.problem.stochastic_grad(
            self.x, self.problem.sample_batch(driver.rng, batch), self.grad
        )
        return self.grad

    def apply(self, driver, batch, gamma):
        self.problem.apply_step(self.x, self.grad, gamma)


def _run(algo, problem):
    driver = Driver(Communicator(), problem, 0.1, worker_rng(0, 0), None)
    return driver.run(algo, np.zeros(problem.dim))


def test_the_driver_counts_what_the_algorithm_planned():
    problem = make_problem("logreg")
    result = _run(Planned(problem, [3, 5, 2], local_steps=2), problem)
    assert result.rounds == 3 and result.sfo_per_worker == 20 and result.last_batch == 2


@pytest.mark.parametrize("plan, steps", [([3, 0], 1), ([2, -1], 1), ([4], 0)])
def test_a_plan_without_work_is_one_error_naming_the_algorithm(plan, steps):
    problem = make_problem("logreg")
    with pytest.raises(ValueError, match=r"Planned\.next_round planned round \d+ with batch"):
        _run(Planned(problem, plan, local_steps=steps), problem)
