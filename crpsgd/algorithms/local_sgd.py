"""Local SGD (Stich 2018) and PR-SGD (Yu, Yang & Zhu 2019): periodic model averaging.

Every rank runs, from the common point ``x`` and with a per-worker SFO budget ``T``::

    S = floor(T / b)                                # minibatch steps each worker can afford
    while S > 0:
        h = min(H, S)                               # the last period may be shorter
        x_i = x;  s_i = 0
        repeat h times:                             # local steps, no communication
            g = (1/b) sum_{j <= b} grad F(x_i; zeta_ij)
            s_i += g;  x_i -= gamma g
        x = x - gamma (1/N) sum_i s_i               # ONE Allreduce: one communication round
        S -= h

Averaging the summed local gradients ``s_i`` is averaging the models: in exact arithmetic
``(1/N) sum_i x_i = x - gamma (1/N) sum_i s_i``. The buffer sent is one ``m``-vector, as for a
model, and with ``H = 1`` the loop performs exactly the operations of PSGD(b) (the same
samples, the same Allreduce, the same update), so the iterates agree bit for bit.

Rounds: ``ceil(floor(T/b) / H)``. The period ``H`` is given, or chosen by a rule, with ``S``
the number of local steps above:

* ``stich`` (strongly convex, Stich 2018, Thm 2.2): ``H = floor(sqrt(S / N))``, so about
  ``sqrt(N S)`` rounds;
* ``prsgd`` (non-convex, Yu, Yang & Zhu 2019, Thm 1): ``H = floor(S^(1/4) / N^(3/4))``, so
  about ``N^(3/4) S^(3/4)`` rounds;

both at least 1. With a batch schedule (``--schedule``) the minibatch of each inner step grows
by it instead, within the same budget (:mod:`crpsgd.algorithms.inner_batches`). The step size
is PR-SGD's constant one by default; a step-size rule (:mod:`crpsgd.schedules.step_size`) is
read once per round, from the SFO spent before it. The local steps are plain SGD steps; the
averaged step is the problem's :meth:`~crpsgd.problems.base.Problem.apply_step`. The loop is the one
:class:`~crpsgd.algorithms.driver.Driver`; :class:`LocalSGD` is the algorithm's part.
"""

from __future__ import annotations

import math

import numpy as np

from crpsgd.algorithms.control import Resume, RunControl
from crpsgd.algorithms.driver import Algorithm, Driver
from crpsgd.algorithms.evaluation import Evaluator
from crpsgd.algorithms.inner_batches import InnerBatches
from crpsgd.algorithms.loop_recorder import LoopOffset, ProgressHook, RunResult
from crpsgd.comm.communicator import Communicator
from crpsgd.problems.base import Problem
from crpsgd.runlog import NullRunLog, RunLog
from crpsgd.schedules.schedule import BatchSchedule, Schedule
from crpsgd.schedules.step_size import StepSize

PERIOD_RULES = ("stich", "prsgd")


def auto_period(rule: str, budget: int, batch: int, n_workers: int) -> int:
    """The averaging period ``H >= 1`` of ``rule`` (see the module docstring) for a per-worker
    budget of ``budget`` SFO spent in minibatches of ``batch`` on ``n_workers`` workers."""
    steps = budget // batch
    if rule == "stich":
        return max(1, math.isqrt(steps // n_workers))
    if rule == "prsgd":
        return max(1, math.floor(steps**0.25 / n_workers**0.75 + 1e-12))
    raise ValueError(f"unknown period rule {rule!r} (known: {', '.join(PERIOD_RULES)})")


class LocalSGD(Algorithm):
    """Local SGD's part of the loop: a round is ``h = min(H, S)`` local minibatch steps from
    the common point; the sum of their gradients is averaged and applied as one step. At a
    round boundary every worker's local model is the average ``x``: no state besides it."""

    def __init__(
        self,
        problem: Problem,
        batch: int,
        period: int,
        budget: int,
        schedule: Schedule | BatchSchedule | None = None,
    ) -> None:
        if batch < 1:
            raise ValueError(f"batch={batch} must be >= 1")
        if period < 1:
            raise ValueError(f"period={period} must be >= 1")
        self.problem, self.batch, self.period, self.budget = problem, batch, period, budget
        # a growing inner batch (crpsgd.algorithms.inner_batches); None: every step has `batch`
        self.growing = InnerBatches(schedule, budget) if schedule is not None else None
        self.step_batches: list[int] | None = None

    def start(self, driver: Driver, x0: np.ndarray) -> None:
        self.x = np.array(x0, dtype=self.problem.dtype, copy=True)
        self.x_local = np.empty_like(self.x)
        self.acc = np.empty_like(self.x)  # s_i: the sum of this period's minibatch gradients
        self.grad = np.empty_like(self.x)

    def restore(self, driver: Driver, resume: Resume | None) -> None:
        self.steps_left = self.budget // self.batch - driver.sfo_done // self.batch
        if self.growing is not None:
            self.growing.restore(driver.sfo_done)

    #: SFO per worker of a PSGD warm-up (rounds of period 1) before the period ``H``: 0 here,
    #: post-local SGD's ``--switch-at``.
    switch_at = 0

    def round_period(self, driver: Driver) -> int:
        """The period of the next round: 1 while fewer than ``switch_at`` SFO per worker are
        spent, then ``H``."""
        return 1 if driver.rec.sfo < self.switch_at else self.period

    def next_round(self, driver: Driver) -> int | None:
        if self.growing is not None:
            batches = self.growing.plan(self.round_period(driver))
            if not batches:
                return None
            self.step_batches, self.local_steps = batches, len(batches)
            return batches[0]
        if self.steps_left <= 0:
            return None
        self.local_steps = min(self.round_period(driver), self.steps_left)
        return self.batch

    def step_batch(self, step: int, batch: int) -> int:
        """The minibatch of the round's inner step ``step`` (0-based)."""
        return batch if self.step_batches is None else self.step_batches[step]

    def round_applied(self) -> None:
        """Count the round just applied against the budget."""
        if self.growing is not None:
            self.round_sfo = self.growing.done()
        else:
            self.steps_left -= self.local_steps

    def local_work(self, driver: Driver, batch: int, gamma: float) -> np.ndarray:
        problem, rng, h = self.problem, driver.rng, self.local_steps
        x_local, acc, grad = self.x_local, self.acc, self.grad
        x_local[:] = self.x
        for step in range(h):
            idx = problem.sample_batch(rng, self.step_batch(step, batch))
            if step == 0:
                problem.stochastic_grad(x_local, idx, acc)
                g = acc
            else:
                problem.stochastic_grad(x_local, idx, grad)
                acc += grad
                g = grad
            if step + 1 < h:  # the last local step is replaced by the averaged one
                np.multiply(g, gamma, out=grad)
                x_local -= grad
        return acc

    def apply(self, driver: Driver, batch: int, gamma: float) -> None:
        self.problem.apply_step(self.x, self.acc, gamma)
        self.round_applied()


def local_sgd(
    problem: Problem,
    comm: Communicator,
    batch: int,
    period: int,
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
) -> RunResult:
    """Run Local SGD with minibatch ``batch``, period ``period`` and step size ``gamma`` until
    the per-worker SFO ``budget`` holds no further minibatch. Returns the last average.

    Collective: every rank of ``comm`` calls it with the same arguments but its own ``rng``.
    The ``/rounds`` row of a round has ``batch = b`` and ``local_steps = h``. The other
    arguments are the :class:`~crpsgd.algorithms.driver.Driver`'s.
    """
    algo = LocalSGD(problem, batch, period, budget)
    driver = Driver(
        comm, problem, gamma, rng, evaluator, log, eval_factor, progress, offset, control, resume
    )
    return driver.run(algo, x0)
