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

both at least 1. The step size is PR-SGD's constant one by default; a step-size rule
(:mod:`crpsgd.step_size`) is read once per round, from the SFO spent before it. The local
steps are plain SGD steps; the averaged step is the problem's
:meth:`~crpsgd.problems.base.Problem.apply_step`.
"""

from __future__ import annotations

import math

import numpy as np

from crpsgd.algorithms.control import Resume, RunControl
from crpsgd.algorithms.parallel_sgd import (
    LoopOffset,
    LoopRecorder,
    ProgressHook,
    RunResult,
)
from crpsgd.comm import Communicator
from crpsgd.evaluation import Evaluator
from crpsgd.problems.base import Problem
from crpsgd.runlog import NullRunLog, RunLog
from crpsgd.step_size import StepSize, as_step_size

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
    The ``/rounds`` row of a round has ``batch = b`` and ``local_steps = h``.
    """
    if batch < 1:
        raise ValueError(f"batch={batch} must be >= 1")
    if period < 1:
        raise ValueError(f"period={period} must be >= 1")
    step_size = as_step_size(gamma)
    rec = LoopRecorder(comm, evaluator, log, eval_factor, progress, offset)
    x = np.array(x0 if resume is None else resume.arrays["x"], dtype=problem.dtype, copy=True)
    x_local = np.empty_like(x)
    acc = np.empty_like(x)  # s_i: the sum of this period's local minibatch gradients
    grad = np.empty_like(x)
    rec.begin(x, resume)
    if resume is not None:
        problem.load_state_arrays(resume.rank_arrays(comm.rank))
    # at a round boundary every worker's local model is the average x: nothing else to restore
    steps_left = budget // batch - (rec.sfo - (offset.sfo if offset is not None else 0)) // batch
    while steps_left > 0:
        h = min(period, steps_left)
        t0 = comm.wtime()
        gamma_t = step_size(rec.sfo)
        x_local[:] = x
        for step in range(h):
            idx = problem.sample_batch(rng, batch)
            if step == 0:
                problem.stochastic_grad(x_local, idx, acc)
                g = acc
            else:
                problem.stochastic_grad(x_local, idx, grad)
                acc += grad
                g = grad
            if step + 1 < h:  # the last local step is replaced by the averaged one
                np.multiply(g, gamma_t, out=grad)
                x_local -= grad
        t1 = comm.wtime()
        comm.allreduce_mean_(acc)
        t2 = comm.wtime()
        problem.apply_step(x, acc, gamma_t)
        t3 = comm.wtime()
        steps_left -= h
        rec.round_done(x, batch, h, gamma_t, (t1 - t0) + (t3 - t2), t2 - t1, t3)
        if control is not None:
            control.after_round(
                **rec.checkpoint_point(t3), x=x, rng=rng, rank_arrays=problem.state_arrays
            )
    return rec.result(x)
