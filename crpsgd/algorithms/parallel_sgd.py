"""Parallel SGD driven by a batch-size schedule: CR-PSGD (Algorithm 1) and PSGD(B).

Every rank runs::

    t = 1
    while B_1 + ... + B_t <= T:                    # per-worker SFO budget
        g_i = (1/B_t) sum_{j <= B_t} grad F(x_t; zeta_ij)   # B_t i.i.d. rows of its own shard
        g   = (1/N) sum_i g_i                      # one Allreduce: one communication round
        x_{t+1} = x_t - gamma g
        t = t + 1

CR-PSGD uses ``B_t = floor(rho^(t-1) B_1)``; PSGD(B) the constant ``B_t = B``; any schedule
object of :mod:`crpsgd.schedules` works, including one that observes each round (its extra
slots ride in the round's buffer after ``g_i``; it sees their average and ``g`` after the
Allreduce, before the step). Rows are drawn with replacement from the rank's own shard by the
rank's own random stream and sorted (the average does not change; memory access becomes
sequential): :meth:`Problem.sample_batch`. The step ``x <- x - gamma_t g`` is
:meth:`Problem.apply_step`, with ``gamma_t`` from a step-size rule (:mod:`crpsgd.step_size`).

Where nothing in a round needs Python (logistic regression, a pure schedule, a step-size
rule of SFO, no test hook) the rounds run in compiled blocks instead, with the same results
bit for bit (:mod:`crpsgd.algorithms.fast_rounds`; ``CRPSGD_FAST_ROUNDS=0`` turns it off).

Composition: CR-PSGD-Catalyst (:mod:`crpsgd.algorithms.catalyst`) calls this loop once per
outer iteration, without an evaluator, and passes :class:`LoopOffset` so that round and SFO
counters, the wall clock and the ``outer`` column continue over the calls; Local SGD
(:mod:`crpsgd.algorithms.local_sgd`) shares :class:`LoopRecorder`, the bookkeeping of rows,
evaluations and counters.
"""

from __future__ import annotations

import numpy as np

from crpsgd.adaptive import noise_columns, with_noise_estimate
from crpsgd.algorithms.control import Resume, RunControl
from crpsgd.algorithms.fast_rounds import fast_plan, run_fast_loop
from crpsgd.algorithms.loop_recorder import (  # noqa: F401  (re-exported)
    EvalSchedule,
    LoopOffset,
    LoopRecorder,
    ProgressHook,
    RunResult,
    checkpoint_after_round,
)
from crpsgd.comm import Communicator
from crpsgd.evaluation import Evaluator
from crpsgd.problems.base import Problem
from crpsgd.rng import sample_indices  # noqa: F401  (re-exported: the loops' sampling)
from crpsgd.runlog import NullRunLog, RunLog
from crpsgd.schedules import (
    BatchSchedule,
    LocalStats,
    RoundStats,
    Schedule,
    rounds_within_budget,
)
from crpsgd.step_size import StepSize, as_step_size


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
) -> RunResult:
    """Run parallel SGD with batch sizes from ``schedule`` until the per-worker SFO budget
    ``budget`` (of this call) would be exceeded; ``gamma`` is the step size (a number, or a
    rule of the run's SFO per worker before the round). Returns the last iterate.

    Collective: every rank of ``comm`` must call it with the same schedule, budget and
    step size. Rows go to ``log`` (rank 0's :class:`RunLog`; a null log elsewhere).
    ``evaluator=None`` evaluates nothing (an inner run of Catalyst); ``offset`` continues the
    counters of earlier loops of the same run; ``control`` checkpoints after rounds and
    ``resume`` continues a checkpointed run (``x0`` is then ignored).

    The round's buffer is the gradient followed by the schedule's ``extra_slots``, which
    :meth:`~crpsgd.schedules.Schedule.fill_slots` fills; after the Allreduce
    :meth:`~crpsgd.schedules.Schedule.observe` sees the averages, before the step.
    """
    # every run logs the noise estimates: one more slot unless the schedule has its own
    schedule = with_noise_estimate(schedule, comm.size, problem)
    step_size = as_step_size(gamma)
    rec = LoopRecorder(comm, evaluator, log, eval_factor, progress, offset)
    slots = schedule.extra_slots
    # the iterate, and the round's buffer: gradient, then the schedule's slots
    x, buf = problem.loop_arrays(x0 if resume is None else resume.arrays["x"], slots)
    grad, extra = buf[: x.size], buf[x.size :]
    rec.begin(x, resume)
    base_sfo = offset.sfo if offset is not None else 0
    if resume is not None:
        problem.load_state_arrays(resume.rank_arrays(comm.rank))
        if "schedule" in resume.state:
            schedule.load_state(resume.state["schedule"])
    first_round = rec.rounds - (offset.rounds if offset is not None else 0) + 1
    fast = fast_plan(problem, comm, schedule, step_size, buf)
    if fast is not None:  # the same rounds in compiled blocks (crpsgd.algorithms.fast_rounds)
        args = (budget, step_size, x, buf, rng, control, first_round, base_sfo)
        run_fast_loop(fast, rec, problem, comm, schedule, *args)
        return rec.result(x)
    rounds = rounds_within_budget(schedule, budget, first_round, rec.sfo - base_sfo)
    for t, batch in enumerate(rounds, start=first_round):
        t0 = comm.wtime()
        gamma_t = step_size(rec.sfo)
        idx = problem.sample_batch(rng, batch)
        problem.stochastic_grad(x, idx, grad)
        if slots:
            schedule.fill_slots(extra, LocalStats(t, batch, grad, x, idx, problem))
        t1 = comm.wtime()
        comm.allreduce_mean_(buf)
        t2 = comm.wtime()
        schedule.observe(t, RoundStats(t, batch, grad, extra, comm.size))
        problem.apply_step(x, grad, gamma_t)
        t3 = comm.wtime()
        seconds = (t1 - t0) + (t3 - t2), t2 - t1, t3
        rec.round_done(x, batch, 1, gamma_t, *seconds, noise_columns(schedule))
        if control is not None and control.due(rec.rounds):
            checkpoint_after_round(control, rec, schedule, x, rng, problem, t3)
    return rec.result(x)
