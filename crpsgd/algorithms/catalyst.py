"""CR-PSGD-Catalyst (Algorithm 2 of Yu & Jin, 2019) for general non-convex problems.

Every rank runs::

    for k = 1 .. K:                                  # K = floor(sqrt(N T)) by default
        h_k(x) = f(x) + theta/2 ||x - y_{k-1}||^2    # (theta - L)-strongly convex if theta > L
        y_k = CR-PSGD(h_k, N, T_in, y_{k-1}, B_1, rho, gamma)
    return y_K

with the inner per-worker budget ``T_in = floor(sqrt(T / N))`` (or ``floor(T / K)`` when
``K`` is given), so the SFO of one worker never exceeds ``K T_in <= T``. Each inner run is
:class:`~crpsgd.algorithms.parallel_sgd.ParallelSGD`'s rounds on a
:class:`~crpsgd.problems.proximal.ProximalProblem`, in the one loop of the run
(:class:`~crpsgd.algorithms.driver.Driver`, with :class:`Catalyst` the algorithm's part);
its rounds are the run's rounds (one Allreduce each), and the total is the sum of the inner
runs' rounds, about
``K log_rho(T_in (rho - 1) / B_1)``: ``O(sqrt(N T) log(T / N))``. The paper's analysis takes
``theta > L``, ``gamma <= 1/(L + theta)`` and ``1 < rho < 1/(1 - gamma (theta - L))``; the CLI's
``auto`` values are ``theta = 2 L`` and ``gamma = 1/(3 L)`` (so ``rho < 1.5``).

Evaluation: ``f`` and ``||grad f||^2`` over the whole data cost a pass over it, and there are
``K = sqrt(N T)`` outer points, so the full evaluation is done at ``y_0``, at the ``y_k`` whose
cumulative SFO first reaches ``eval_factor`` times that of the last evaluated one (the core's
geometric spacing: ``O(log K)`` evaluations for ``K`` outer steps) and at ``y_K``. Every outer
iteration gets an ``/outer`` row; those not evaluated have NaN values. The reported best point
is the evaluated ``y_k`` with the smallest ``||grad f||^2``. The resumable points (the
driver's checkpoints) are the ends of the outer iterations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from crpsgd.algorithms.control import Resume, RunControl
from crpsgd.algorithms.driver import Driver
from crpsgd.algorithms.evaluation import Evaluator
from crpsgd.algorithms.loop_recorder import ProgressHook, RunResult
from crpsgd.algorithms.parallel_sgd import ParallelSGD
from crpsgd.comm.communicator import Communicator
from crpsgd.errors import UsageError
from crpsgd.problems.base import Problem
from crpsgd.problems.proximal import ProximalProblem
from crpsgd.runlog import NullRunLog, RunLog
from crpsgd.schedules.schedule import BatchSchedule, Schedule, as_schedule
from crpsgd.schedules.step_size import StepSize


@dataclass(frozen=True)
class CatalystPlan:
    """Outer iterations ``K`` and the per-worker SFO budget ``T_in`` of each inner run."""

    outer: int
    inner_budget: int


def catalyst_plan(budget: int, n_workers: int, outer: int | None = None) -> CatalystPlan:
    """``K = floor(sqrt(N T))``, ``T_in = floor(sqrt(T / N))``; or ``T_in = floor(T / K)`` for a
    given ``K``. Either way ``K T_in <= T`` (exact integer arithmetic)."""
    if outer is None:
        return CatalystPlan(math.isqrt(n_workers * budget), math.isqrt(budget // n_workers))
    if outer < 1:
        raise ValueError(f"outer={outer} must be >= 1")
    return CatalystPlan(outer, budget // outer)


def check_plan(
    plan: CatalystPlan, first_batch: int, budget: int, n_workers: int, flag: str = "--b1"
) -> None:
    """Reject a plan whose inner runs could not take a single round (``flag`` names the
    parameter of the first batch)."""
    if plan.outer < 1 or plan.inner_budget < first_batch:
        raise UsageError(
            f"--T={budget}: cr-psgd-catalyst on {n_workers} workers runs {plan.outer} outer "
            f"iterations of {plan.inner_budget} SFO per worker each, less than the first batch "
            f"{flag}={first_batch}; raise --T, lower {flag} or set fewer --outer iterations"
        )


@dataclass
class CatalystResult(RunResult):
    """:class:`RunResult` of ``y_K`` plus the best evaluated outer point."""

    outer_iterations: int = 0
    inner_budget: int = 0
    best_outer: int = 0
    best_grad_norm_sq: float = math.nan
    y_best: np.ndarray | None = None


class Catalyst(ParallelSGD):
    """CR-PSGD-Catalyst's part of the loop: the rounds of ``plan.outer`` inner runs of
    :class:`ParallelSGD` on ``problem + theta/2 ||. - y_{k-1}||^2``, each with
    ``plan.inner_budget`` SFO per worker; after each, the outer bookkeeping (evaluation,
    ``/outer`` row, best point) and a resumable point. The run's iterate ``x`` is ``y_k``."""

    resumable_rounds = False

    def __init__(
        self,
        problem: Problem,
        schedule: Schedule | BatchSchedule | int,
        plan: CatalystPlan,
        theta: float,
    ) -> None:
        if not theta > 0:
            raise ValueError(f"theta={theta} must be > 0")
        self.base = as_schedule(schedule)
        self.restart = getattr(self.base, "restart", lambda: None)
        self.plan, self.theta, self.base_problem = plan, theta, problem
        super().__init__(problem, self.base, plan.inner_budget)

    def start(self, driver: Driver, x0: np.ndarray) -> None:
        self.problem = ProximalProblem(self.base_problem, self.theta, x0)
        self.x = np.array(x0, dtype=self.base_problem.dtype, copy=True)  # y_k
        self.k, self.in_run = 0, False

    def restore(self, driver: Driver, resume: Resume | None) -> None:
        self.n_workers = driver.comm.size
        if resume is None:
            first = driver.rec.last
            self.best_k, self.best_g = 0, first.grad_norm_sq if first is not None else math.nan
            self.y_best = self.x.copy()
            return
        state = resume.state
        self.k = int(state["outer"])
        self.best_k, self.best_g = int(state["best_outer"]), float(state["best_grad_norm_sq"])
        self.y_best = np.array(resume.arrays["y_best"], dtype=self.base_problem.dtype)
        if "schedule" in state:
            self.base.load_state(state["schedule"])

    def next_round(self, driver: Driver) -> int | None:
        while True:
            if self.in_run:
                batch = super().next_round(driver)
                if batch is not None:
                    return batch
                self._close(driver)
            if self.k >= self.plan.outer:
                return None
            self._open(driver)

    def _open(self, driver: Driver) -> None:
        """Outer iteration ``k + 1``: a fresh inner run from ``y_k``."""
        self.k += 1
        self.problem.set_center(self.x)
        self.restart()  # an observing schedule (adaptive) starts each inner run at B_1, afresh
        self.schedule = self.base
        super().start(driver, self.x)  # the inner iterate x: a copy of y_k, y_(k+1) at the end
        self.t, self.used, self.in_run = 1, 0, True
        self.rounds_before = driver.rec.rounds

    def _close(self, driver: Driver) -> None:
        """The end of outer iteration ``k``: ``y_k``, its evaluation and ``/outer`` row."""
        self.in_run = False
        rec, k = driver.rec, self.k
        if rec.rounds == self.rounds_before:
            rec.batch = 0
        ev = driver.evaluate_due(self.x, final=k == self.plan.outer)
        if ev is not None and not ev.grad_norm_sq >= self.best_g:  # also replaces a NaN
            self.best_k, self.best_g = k, ev.grad_norm_sq
            self.y_best[:] = self.x
        driver.log.add_outer(
            outer=k,
            round=rec.rounds,
            sfo_per_worker=rec.sfo,
            sfo_total=rec.sfo * self.n_workers,
            evaluated=int(ev is not None),
            objective=ev.objective if ev is not None else math.nan,
            grad_norm_sq=ev.grad_norm_sq if ev is not None else math.nan,
            wall_s=driver.comm.wtime() - rec.start,
        )
        driver.resumable_point(driver.comm.wtime())

    def columns(self) -> dict[str, float]:
        return {"outer": self.k, **super().columns()}

    def checkpoint_state(self) -> tuple[dict[str, np.ndarray], dict[str, object]]:
        sched_state = self.base.state()
        state = {"outer": self.k, "best_outer": self.best_k, "best_grad_norm_sq": self.best_g}
        return {"y_best": self.y_best}, {
            **state,
            **({"schedule": sched_state} if sched_state else {}),
        }

    def compiled(self, driver: Driver) -> Callable[[], None] | None:
        return None

    def finish(self, driver: Driver, result: RunResult) -> CatalystResult:
        driver.log.set_attrs(
            theta=self.theta,
            outer_iterations=self.plan.outer,
            inner_budget=self.plan.inner_budget,
            best_outer=self.best_k,
            best_grad_norm_sq=self.best_g,
        )
        driver.log.set_result_array("y_best", self.y_best)
        return CatalystResult(
            **{f.name: getattr(result, f.name) for f in fields(RunResult)},
            outer_iterations=self.plan.outer,
            inner_budget=self.plan.inner_budget,
            best_outer=self.best_k,
            best_grad_norm_sq=self.best_g,
            y_best=self.y_best,
        )


def catalyst(
    problem: Problem,
    comm: Communicator,
    schedule: Schedule | BatchSchedule | int,
    plan: CatalystPlan,
    theta: float,
    gamma: StepSize | float,
    y0: np.ndarray,
    rng: np.random.Generator,
    evaluator: Evaluator | None,
    log: RunLog | NullRunLog | None = None,
    eval_factor: float = 1.25,
    progress: ProgressHook | None = None,
    control: RunControl | None = None,
    resume: Resume | None = None,
) -> CatalystResult:
    """Run ``plan.outer`` outer iterations of CR-PSGD (batches from ``schedule``, step size
    ``gamma``) on ``problem + theta/2 ||. - y_{k-1}||^2``, each with ``plan.inner_budget`` SFO
    per worker, from ``y0``. Returns ``y_K``.

    Collective: every rank calls it with the same arguments but its own ``rng`` (which the
    inner runs consume in order). ``/rounds`` rows carry ``outer = k``. ``control`` is
    consulted after every outer iteration (checkpoints hold ``y_k``, the best point and ``k``);
    ``resume`` continues after the checkpointed outer iteration.
    """
    algo = Catalyst(problem, schedule, plan, theta)
    driver = Driver(
        comm, problem, gamma, rng, evaluator, log, eval_factor, progress, None, control, resume
    )
    return driver.run(algo, y0)
