"""Parallel SGD driven by a batch-size schedule: CR-PSGD (Algorithm 1) and PSGD(B).

Every rank runs::

    t = 1
    while B_1 + ... + B_t <= T:                    # per-worker SFO budget
        g_i = (1/B_t) sum_{j <= B_t} grad F(x_t; zeta_ij)   # B_t i.i.d. rows of its own shard
        g   = (1/N) sum_i g_i                      # one Allreduce: one communication round
        x_{t+1} = x_t - gamma g
        t = t + 1

CR-PSGD uses ``B_t = floor(rho^(t-1) B_1)``; PSGD(B) the constant ``B_t = B``. Rows are
drawn with replacement from the rank's own shard by the rank's own random stream and sorted
(the average does not change; memory access becomes sequential).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from crpsgd.comm import Communicator
from crpsgd.evaluation import Evaluation, Evaluator
from crpsgd.problems.base import Problem
from crpsgd.runlog import NullRunLog, RunLog
from crpsgd.schedules import BatchSchedule, rounds_within_budget

ProgressHook = Callable[[int, int, int, Evaluation, float], None]


@dataclass
class RunResult:
    """What a loop returns: the iterate, its counters and its seconds (this rank)."""

    x: np.ndarray
    rounds: int
    sfo_per_worker: int
    final: Evaluation
    wall_s: float
    compute_s: float
    comm_s: float
    eval_s: float


class EvalSchedule:
    """Evaluation points spaced geometrically in SFO: evaluate the initial point, then after
    the first round whose per-worker SFO reaches ``factor`` times that of the last evaluation,
    and always after the last round."""

    def __init__(self, factor: float) -> None:
        if factor <= 1.0:
            raise ValueError("eval factor must be > 1")
        self.factor = factor
        self.last_sfo = 0

    def due(self, sfo: int) -> bool:
        if sfo >= self.factor * self.last_sfo:
            self.last_sfo = sfo
            return True
        return False


def sample_indices(rng: np.random.Generator, n_local: int, batch: int) -> np.ndarray:
    """``batch`` local row numbers drawn i.i.d. uniformly with replacement, sorted (int64)."""
    idx = rng.integers(0, n_local, size=batch, dtype=np.int64)
    idx.sort()
    return idx


def parallel_sgd(
    problem: Problem,
    comm: Communicator,
    schedule: BatchSchedule | int,
    budget: int,
    gamma: float,
    x0: np.ndarray,
    rng: np.random.Generator,
    evaluator: Evaluator,
    log: RunLog | NullRunLog | None = None,
    eval_factor: float = 1.25,
    progress: ProgressHook | None = None,
) -> RunResult:
    """Run parallel SGD with batch sizes from ``schedule`` until the per-worker SFO budget
    ``budget`` would be exceeded; ``gamma`` is the step size. Returns the last iterate.

    Collective: every rank of ``comm`` must call it with the same schedule, budget and
    step size. Rows go to ``log`` (rank 0's :class:`RunLog`; a null log elsewhere).
    """
    log = log if log is not None else NullRunLog()
    n_workers = comm.size
    x = np.array(x0, dtype=np.float64, copy=True)
    grad = np.empty_like(x)
    evals = EvalSchedule(eval_factor)
    comm.barrier()
    start = comm.wtime()
    rounds = sfo = 0
    compute_s = comm_s = eval_s = 0.0

    def evaluate() -> Evaluation:
        nonlocal eval_s
        ev = evaluator(x)
        eval_s += ev.seconds
        wall = comm.wtime() - start
        log.add_eval(
            round=rounds,
            sfo_per_worker=sfo,
            sfo_total=sfo * n_workers,
            objective=ev.objective,
            grad_norm_sq=ev.grad_norm_sq,
            suboptimality=ev.suboptimality,
            test_accuracy=ev.test_accuracy,
            wall_s=wall,
            eval_s=ev.seconds,
        )
        if progress is not None:
            progress(rounds, batch, sfo, ev, wall)
        return ev

    batch = 0
    last = evaluate()
    evals.due(0)
    for batch in rounds_within_budget(schedule, budget):
        t0 = comm.wtime()
        idx = sample_indices(rng, problem.n_local, batch)
        problem.stochastic_grad(x, idx, grad)
        t1 = comm.wtime()
        comm.allreduce_mean_(grad)
        t2 = comm.wtime()
        grad *= gamma
        x -= grad
        t3 = comm.wtime()
        rounds += 1
        sfo += batch
        compute_s += (t1 - t0) + (t3 - t2)
        comm_s += t2 - t1
        log.add_round(
            round=rounds,
            batch=batch,
            sfo_per_worker=sfo,
            sfo_total=sfo * n_workers,
            step_size=gamma,
            wall_s=t3 - start,
            compute_s=(t1 - t0) + (t3 - t2),
            comm_s=t2 - t1,
        )
        if evals.due(sfo):
            last = evaluate()
    if evals.last_sfo != sfo:
        last = evaluate()
    return RunResult(
        x=x,
        rounds=rounds,
        sfo_per_worker=sfo,
        final=last,
        wall_s=comm.wtime() - start,
        compute_s=compute_s,
        comm_s=comm_s,
        eval_s=eval_s,
    )
