"""CR-PSGD-Catalyst (Algorithm 2 of Yu & Jin, 2019) for general non-convex problems.

Every rank runs::

    for k = 1 .. K:                                  # K = floor(sqrt(N T)) by default
        h_k(x) = f(x) + theta/2 ||x - y_{k-1}||^2    # (theta - L)-strongly convex if theta > L
        y_k = CR-PSGD(h_k, N, T_in, y_{k-1}, B_1, rho, gamma)
    return y_K

with the inner per-worker budget ``T_in = floor(sqrt(T / N))`` (or ``floor(T / K)`` when
``K`` is given), so the SFO of one worker never exceeds ``K T_in <= T``. Each inner run is the
core loop :func:`~crpsgd.algorithms.parallel_sgd.parallel_sgd` on a
:class:`~crpsgd.problems.proximal.ProximalProblem`; its rounds are the run's rounds (one
Allreduce each), and the total is the sum of the inner runs' rounds, about
``K log_rho(T_in (rho - 1) / B_1)``: ``O(sqrt(N T) log(T / N))``. The paper's analysis takes
``theta > L``, ``gamma <= 1/(L + theta)`` and ``1 < rho < 1/(1 - gamma (theta - L))``; the CLI's
``auto`` values are ``theta = 2 L`` and ``gamma = 1/(3 L)`` (so ``rho < 1.5``).

Evaluation: ``f`` and ``||grad f||^2`` over the whole data cost a pass over it, and there are
``K = sqrt(N T)`` outer points, so the full evaluation is done at ``y_0``, at the ``y_k`` whose
cumulative SFO first reaches ``eval_factor`` times that of the last evaluated one (the core's
geometric spacing: ``O(log K)`` evaluations for ``K`` outer steps) and at ``y_K``. Every outer
iteration gets an ``/outer`` row; those not evaluated have NaN values. The reported best point
is the evaluated ``y_k`` with the smallest ``||grad f||^2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crpsgd.algorithms.control import Resume, RunControl
from crpsgd.algorithms.parallel_sgd import (
    LoopOffset,
    LoopRecorder,
    ProgressHook,
    RunResult,
    parallel_sgd,
)
from crpsgd.comm import Communicator
from crpsgd.errors import UsageError
from crpsgd.evaluation import Evaluator
from crpsgd.problems.base import Problem
from crpsgd.problems.proximal import ProximalProblem
from crpsgd.runlog import NullRunLog, RunLog
from crpsgd.schedules import BatchSchedule, Schedule, as_schedule
from crpsgd.step_size import StepSize


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
    if not theta > 0:
        raise ValueError(f"theta={theta} must be > 0")
    log = log if log is not None else NullRunLog()
    schedule = as_schedule(schedule)
    restart = getattr(schedule, "restart", lambda: None)
    prox = ProximalProblem(problem, theta, y0)
    outer_rec = LoopRecorder(comm, evaluator, log, eval_factor, progress, None)
    y = np.array(y0 if resume is None else resume.arrays["x"], dtype=problem.dtype, copy=True)
    outer_rec.begin(y, resume)
    if resume is None:
        first, k_done = outer_rec.last, 0
        best_k = 0
        best_g = first.grad_norm_sq if first is not None else math.nan
        y_best = y.copy()
    else:
        k_done = int(resume.state["outer"])
        best_k, best_g = int(resume.state["best_outer"]), float(resume.state["best_grad_norm_sq"])
        y_best = np.array(resume.arrays["y_best"], dtype=problem.dtype)
        problem.load_state_arrays(resume.rank_arrays(comm.rank))
        if "schedule" in resume.state:
            schedule.load_state(resume.state["schedule"])
    for k in range(k_done + 1, plan.outer + 1):
        prox.set_center(y)
        restart()  # an observing schedule (adaptive) starts each inner run at B_1, afresh
        before = outer_rec.rounds
        inner = parallel_sgd(
            prox,
            comm,
            schedule,
            plan.inner_budget,
            gamma,
            y,
            rng,
            None,
            log,
            offset=LoopOffset(outer_rec.rounds, outer_rec.sfo, outer_rec.start, k),
        )
        y = inner.x
        outer_rec.rounds, outer_rec.sfo = inner.rounds, inner.sfo_per_worker
        outer_rec.batch = inner.last_batch if inner.rounds > before else 0
        outer_rec.compute_s += inner.compute_s
        outer_rec.comm_s += inner.comm_s
        ev = None
        if evaluator is not None and (outer_rec.evals.due(outer_rec.sfo) or k == plan.outer):
            outer_rec.evals.last_sfo = outer_rec.sfo  # y_K: evaluated here, not again below
            ev = outer_rec.evaluate(y)
            if not ev.grad_norm_sq >= best_g:  # also replaces a NaN start
                best_k, best_g = k, ev.grad_norm_sq
                y_best[:] = y
        log.add_outer(
            outer=k,
            round=outer_rec.rounds,
            sfo_per_worker=outer_rec.sfo,
            sfo_total=outer_rec.sfo * comm.size,
            evaluated=int(ev is not None),
            objective=ev.objective if ev is not None else math.nan,
            grad_norm_sq=ev.grad_norm_sq if ev is not None else math.nan,
            wall_s=comm.wtime() - outer_rec.start,
        )
        if control is not None:
            sched_state = schedule.state()
            control.after_round(
                **outer_rec.checkpoint_point(comm.wtime()),
                x=y,
                rng=rng,
                arrays={"y_best": y_best},
                state={
                    "outer": k,
                    "best_outer": best_k,
                    "best_grad_norm_sq": best_g,
                    **({"schedule": sched_state} if sched_state else {}),
                },
                rank_arrays=problem.state_arrays,
            )
    log.set_attrs(
        theta=theta,
        outer_iterations=plan.outer,
        inner_budget=plan.inner_budget,
        best_outer=best_k,
        best_grad_norm_sq=best_g,
    )
    log.set_result_array("y_best", y_best)
    done = outer_rec.result(y)
    return CatalystResult(
        x=done.x,
        rounds=done.rounds,
        sfo_per_worker=done.sfo_per_worker,
        final=done.final,
        wall_s=done.wall_s,
        compute_s=done.compute_s,
        comm_s=done.comm_s,
        eval_s=done.eval_s,
        outer_iterations=plan.outer,
        inner_budget=plan.inner_budget,
        best_outer=best_k,
        best_grad_norm_sq=best_g,
        y_best=y_best,
    )
