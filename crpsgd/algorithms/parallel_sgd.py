"""Parallel SGD driven by a batch-size schedule: CR-PSGD (Algorithm 1) and PSGD(B).

Every rank runs::

    t = 1
    while B_1 + ... + B_t <= T:                    # per-worker SFO budget
        g_i = (1/B_t) sum_{j <= B_t} grad F(x_t; zeta_ij)   # B_t i.i.d. rows of its own shard
        g   = (1/N) sum_i g_i                      # one Allreduce: one communication round
        x_{t+1} = x_t - gamma g
        t = t + 1

CR-PSGD uses ``B_t = floor(rho^(t-1) B_1)``; PSGD(B) the constant ``B_t = B``; any schedule
object of :mod:`crpsgd.schedules.schedule` works, including one that observes each round (its extra
slots ride in the round's buffer after ``g_i``; it sees their average and ``g`` after the
Allreduce, before the step). Rows are drawn with replacement from the rank's own shard by the
rank's own random stream and sorted (the average does not change; memory access becomes
sequential): :meth:`Problem.sample_batch`. The step ``x <- x - gamma_t g`` is
:meth:`Problem.apply_step`, with ``gamma_t`` from a step-size rule
(:mod:`crpsgd.schedules.step_size`).

Where nothing in a round needs Python (logistic regression, a pure schedule, a step-size
rule of SFO, no test hook) the rounds run in compiled blocks instead, with the same results
bit for bit (:mod:`crpsgd.algorithms.fast_rounds`; ``CRPSGD_FAST_ROUNDS=0`` turns it off).

The loop itself is the one :class:`~crpsgd.algorithms.driver.Driver`; this module supplies
:class:`ParallelSGD`, the algorithm's part: the batch of each round, the local gradient (and
the schedule's slots), the step, and the schedule's state for checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from crpsgd.algorithms.control import Resume, RunControl
from crpsgd.algorithms.driver import Algorithm, Driver
from crpsgd.algorithms.evaluation import Evaluator
from crpsgd.algorithms.fast_rounds import fast_plan, run_fast_loop
from crpsgd.algorithms.loop_recorder import (  # noqa: F401  (re-exported)
    EvalSchedule,
    LoopOffset,
    LoopRecorder,
    ProgressHook,
    RunResult,
)
from crpsgd.comm.communicator import Communicator
from crpsgd.data.rng import sample_indices  # noqa: F401  (re-exported: the loops' sampling)
from crpsgd.problems.base import Problem
from crpsgd.runlog import NullRunLog, RunLog
from crpsgd.schedules.budget_fill import budget_round
from crpsgd.schedules.inner_product import along_columns
from crpsgd.schedules.lr_scaling import LrScaling
from crpsgd.schedules.observed import noise_columns, with_noise_estimate
from crpsgd.schedules.schedule import BatchSchedule, LocalStats, RoundStats, Schedule
from crpsgd.schedules.step_size import StepSize


class ParallelSGD(Algorithm):
    """Parallel SGD's part of the loop: round ``t`` takes ``B_t`` from ``schedule`` while the
    per-worker SFO ``budget`` holds it (:func:`~crpsgd.schedules.schedule.rounds_within_budget`'s
    rule), averages the minibatch gradient plus the schedule's slots, and steps with the
    problem's :meth:`~crpsgd.problems.base.Problem.apply_step`."""

    def __init__(
        self, problem: Problem, schedule: Schedule | BatchSchedule | int, budget: int
    ) -> None:
        self.problem = problem
        self.schedule = schedule
        self.budget = budget

    def start(self, driver: Driver, x0: np.ndarray) -> None:
        # every run logs the noise estimates: one more slot unless the schedule has its own
        scaling = driver.lr_scaling
        needs = scaling is not None and scaling.needs_noise
        self.schedule = with_noise_estimate(self.schedule, driver.comm.size, self.problem, needs)
        self.slots = self.schedule.extra_slots
        # the iterate, and the round's buffer: gradient, then the schedule's slots
        self.x, self.buf = self.problem.loop_arrays(x0, self.slots)
        self.grad, self.extra = self.buf[: self.x.size], self.buf[self.x.size :]
        self.filled = False  # whether the planned round takes all of the budget left

    def restore(self, driver: Driver, resume: Resume | None) -> None:
        if resume is not None and "schedule" in resume.state:
            self.schedule.load_state(resume.state["schedule"])
            if hasattr(self.schedule, "load_checkpoint_arrays"):
                self.schedule.load_checkpoint_arrays(resume.arrays)
        self.t = driver.rounds_done + 1  # the round next_round plans
        self.used = driver.sfo_done
        self.n_workers = driver.comm.size

    def next_round(self, driver: Driver) -> int | None:
        b = self.schedule.batch(self.t)
        if b < 1:
            raise ValueError(f"schedule gave batch size {b} at round {self.t}")
        fills = getattr(self.schedule, "fills_budget", False)
        b, self.filled = budget_round(b, self.budget - self.used, fills)
        if b is None:
            return None
        if self.filled:
            self.schedule.fill_last(self.t, b)
        self.used += b
        return b

    def local_work(self, driver: Driver, batch: int, gamma: float) -> np.ndarray:
        problem, x = self.problem, self.x
        idx = problem.sample_batch(driver.rng, batch)
        problem.stochastic_grad(x, idx, self.grad)
        if self.slots:
            self.schedule.fill_slots(
                self.extra, LocalStats(self.t, batch, self.grad, x, idx, problem)
            )
        return self.buf

    def apply(self, driver: Driver, batch: int, gamma: float) -> None:
        t = self.t
        self.schedule.observe(t, RoundStats(t, batch, self.grad, self.extra, self.n_workers))
        self.problem.apply_step(self.x, self.grad, gamma)
        self.t = t + 1

    def columns(self) -> dict[str, float]:
        columns = {**noise_columns(self.schedule), **along_columns(self.schedule)}
        if getattr(self.schedule, "fills_budget", False):
            columns["budget_fill"] = int(self.filled)
        return columns

    def scaling_inputs(self) -> tuple[int, float, float]:
        noise = getattr(self.schedule, "noise", None)
        trace, grad_sq = noise.averages() if noise is not None else (math.nan, math.nan)
        return self.schedule.batch(1), trace, grad_sq

    def checkpoint_state(self) -> tuple[dict[str, np.ndarray], dict[str, object]]:
        state = self.schedule.state()
        arrays = getattr(self.schedule, "checkpoint_arrays", dict)()
        return arrays, ({"schedule": state} if state else {})

    def compiled(self, driver: Driver) -> Callable[[], None] | None:
        """The same rounds in compiled blocks (:mod:`crpsgd.algorithms.fast_rounds`)."""
        plan = fast_plan(
            self.problem, driver.comm, self.schedule, driver.step_size, self.buf, driver.lr_scaling
        )
        if plan is None:
            return None
        return lambda: run_fast_loop(plan, driver, self)


def parallel_sgd(
    problem: Problem,
    comm: Communicator,
    schedule: Schedule | BatchSchedule | int,
    budget: int,
    gamma: StepSize | float,
    x0: np.ndarray,
    rng: np.random.Generator,
    evaluator: Evaluator | None,
    log: RunLog | NullRunLog | None = None,
    eval_factor: float = 1.25,
    progress: ProgressHook | None = None,
    offset: LoopOffset | None = None,
    control: RunControl | None = None,
    resume: Resume | None = None,
    lr_scaling: LrScaling | None = None,
) -> RunResult:
    """Run parallel SGD with batch sizes from ``schedule`` until the per-worker SFO budget
    ``budget`` (of this call) would be exceeded; ``gamma`` is the step size (a number, or a
    rule of the run's SFO per worker before the round). Returns the last iterate.

    Collective: every rank of ``comm`` must call it with the same schedule, budget and
    step size. The other arguments (``lr_scaling`` too) are the
    :class:`~crpsgd.algorithms.driver.Driver`'s.

    The round's buffer is the gradient followed by the schedule's ``extra_slots``, which
    :meth:`~crpsgd.schedules.schedule.Schedule.fill_slots` fills; after the Allreduce
    :meth:`~crpsgd.schedules.schedule.Schedule.observe` sees the averages, before the step.
    """
    driver = Driver(
        comm,
        problem,
        gamma,
        rng,
        evaluator,
        log,
        eval_factor,
        progress,
        offset,
        control,
        resume,
        lr_scaling,
    )
    return driver.run(ParallelSGD(problem, schedule, budget), x0)
