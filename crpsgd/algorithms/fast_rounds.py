"""The fast path of :class:`~crpsgd.algorithms.parallel_sgd.ParallelSGD`: rounds in
compiled blocks (:func:`crpsgd.algorithms.round_block.run_rounds`), Python between blocks.

It applies when nothing inside a round needs Python (:func:`crpsgd.algorithms.fast_plan.
fast_plan` says when: logistic regression, a pure schedule, a step-size rule of SFO, no test
hook, ``CRPSGD_FAST_ROUNDS`` not ``0``). Otherwise the Python loop runs, as always.

A block holds at most :data:`MAX_ROUNDS` rounds, runs at most about :data:`MAX_SECONDS`
seconds, and ends with the round after which an evaluation or a ``RunControl`` action
(replica check, checkpoint) is due; a signal's handler runs between blocks, so its stop
request travels in the next round's control slot. After a block its rows go to the log in
one call (``add_rounds``), and the loop's counters, the communicator's round statistics
and the noise estimator's state take the block's values: everything then is as after the
same rounds of the Python loop, bit for bit except the timings.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from crpsgd.algorithms.fast_plan import ENV, FastPlan, fast_plan
from crpsgd.comm.communicator import Communicator
from crpsgd.errors import DivergenceError
from crpsgd.schedules.noise import NoiseEstimate

__all__ = ["ENV", "FastPlan", "fast_plan", "run_fast_loop"]

MAX_ROUNDS = 2048
MAX_SECONDS = 0.05
_COLUMNS = ("noise_var", "grad_sq_est", "noise_scale", "compute_s", "comm_s")


class BlockBuffers:
    """Preallocated per-block arrays: batches, step sizes, drawn rows, columns."""

    def __init__(self, rounds: int, max_batch: int, n: int) -> None:
        self.batches = np.empty(rounds, dtype=np.int64)
        self.gammas = np.empty(rounds, dtype=np.float64)
        self.scales = np.empty(rounds, dtype=np.float64)  # --lr-scaling's factors
        self.columns = np.empty((6, rounds), dtype=np.float64)
        self.work = np.empty(n + 1, dtype=np.float64)
        self.grow(max_batch)

    def grow(self, batch: int) -> None:
        if not hasattr(self, "idx") or self.idx.size < batch:
            self.idx = np.empty(batch, dtype=np.int64)
            self.scratch = np.empty(batch, dtype=np.int64)


def plan_block(
    plan: FastPlan,
    bufs: BlockBuffers,
    t: int,
    used: int,
    budget: int,
    sfo: int,
    step_size: Any,
    limit: int,
) -> int:
    """Fill the batches and step sizes of rounds ``t, t+1, ...`` that fit the budget (as
    :func:`~crpsgd.schedules.schedule.rounds_within_budget`), at most ``limit``; returns how
    many."""
    count = plan.schedule.batch_table(t, used, budget, bufs.batches[:limit])
    if count:
        before = sfo + np.concatenate(([0], np.cumsum(bufs.batches[: count - 1])))
        bufs.gammas[:count] = step_size.table(before)
        if plan.scaling is not None:
            bufs.scales[:count] = plan.scaling.table(bufs.batches[:count], plan.base_batch)
            bufs.gammas[:count] *= bufs.scales[:count]
    return count


def finish_block(
    plan: FastPlan,
    bufs: BlockBuffers,
    rec: Any,
    comm: Communicator,
    done: int,
    attempted: int,
    reduce_s: float,
    est: np.ndarray,
) -> None:
    """Log the block's ``done`` rounds, advance the counters and the estimator's state; the
    communicator counts ``attempted`` Allreduces (one more than done after a divergence)."""
    stats = comm.stats
    stats.rounds += attempted
    stats.round_bytes += attempted * bufs.work.nbytes
    stats.round_seconds += reduce_s
    if plan.observer is not None:
        plan.observer.load_state({**plan.observer.state(), **_est_state(est)})
    if done == 0:
        return
    batches = bufs.batches[:done]
    cols = bufs.columns[:, :done]
    sfo_after = rec.sfo + np.cumsum(batches)
    rows = {
        "round": np.arange(rec.rounds + 1, rec.rounds + done + 1),
        "batch": batches,
        "local_steps": 1,
        "outer": rec.outer,
        "sfo_per_worker": sfo_after,
        "sfo_total": sfo_after * rec._size,
        "step_size": bufs.gammas[:done],
        "wall_s": cols[5] - rec.start,
        **{name: cols[i] for i, name in enumerate(_COLUMNS)},
    }
    if plan.scaling is not None:
        rows["lr_scale"] = bufs.scales[:done]
    add_rounds = getattr(rec.log, "add_rounds", None)
    if add_rounds is not None:
        add_rounds(rows, done)
    else:  # a log that only takes rows one by one
        for k in range(done):
            rec.log.add_round(**{n: v if np.ndim(v) == 0 else v[k] for n, v in rows.items()})
    rec.rounds += done
    rec.sfo = int(sfo_after[-1])
    rec.batch = int(batches[-1])
    rec.compute_s += float(cols[3].sum())
    rec.comm_s += float(cols[4].sum())
    if plan.observer is not None:
        trace, grad_sq = float(cols[0, -1]), float(cols[1, -1])
        m = est[2]
        avg = (est[0] / m, est[1] / m) if m > 0.0 else (float("nan"), float("nan"))
        plan.observer.last = NoiseEstimate(trace, grad_sq, float(avg[0]), float(avg[1]))


def _est_state(est: np.ndarray) -> dict[str, float]:
    return {"trace_m": float(est[0]), "grad_sq_m": float(est[1]), "weight": float(est[2])}


def divergence(comm: Communicator) -> DivergenceError:
    """The error the Python round raises for a non-finite average."""
    return DivergenceError(comm.stats.rounds, "the averaged vector is not finite")


def run_fast_loop(plan: FastPlan, driver: Any, algo: Any) -> None:
    """The remaining rounds of ``algo`` (a :class:`~crpsgd.algorithms.parallel_sgd.
    ParallelSGD`: its budget, iterate, buffer and next round ``algo.t`` after ``algo.used``
    SFO) in compiled blocks; evaluations and the driver's resumable points between blocks,
    at the rounds where the Python loop has them."""
    from crpsgd.algorithms.round_block import DIVERGED, MPI_FAILED, STOPPED, run_rounds

    rec, comm, control = driver.rec, driver.comm, driver.control
    problem, budget, step_size = algo.problem, algo.budget, driver.step_size
    x, buf = algo.x, algo.buf
    bitgen = driver.rng.bit_generator.ctypes
    rng_fn = ctypes.cast(bitgen.next_uint32, ctypes.c_void_p).value
    rng_state = bitgen.state_address
    bufs = BlockBuffers(MAX_ROUNDS, 1, buf.size)
    observer = plan.observer
    est = np.zeros(3)
    n_workers = comm.size
    beta = observer.smoothing if observer is not None else 0.0
    size_as = np.float64(comm.size)
    t, used = algo.t, algo.used
    while True:
        limit = MAX_ROUNDS
        if control is not None:
            nxt = control.next_due(rec.rounds)
            if nxt is not None:
                limit = min(limit, nxt - rec.rounds)
        count = plan_block(plan, bufs, t, used, budget, rec.sfo, step_size, limit)
        if count == 0:
            return
        if rec.evaluator is not None:  # the block ends with the round an evaluation follows
            count = rec.evals.rounds_until_due(rec.sfo + np.cumsum(bufs.batches[:count]))
        bufs.grow(int(bufs.batches[:count].max()))
        if observer is not None:
            state = observer.state()
            est[:] = (state["trace_m"], state["grad_sq_m"], state["weight"])
        done, status, reduce_s, err = run_rounds(
            plan.kernel,
            plan.lam,
            x,
            buf,
            bufs.work,
            size_as,
            1.0 if comm.stop_requested else 0.0,
            rng_fn,
            rng_state,
            problem.n_local,
            bufs.idx,
            bufs.scratch,
            bufs.batches,
            bufs.gammas,
            count,
            plan.mpi,
            *plan.handles,
            observer is not None,
            n_workers,
            beta,
            est,
            bufs.columns,
            MAX_SECONDS,
        )
        attempted = done + (status == DIVERGED)  # a failed MPI call counts no round
        finish_block(plan, bufs, rec, comm, done, attempted, reduce_s, est)
        comm.stop_agreed = status == STOPPED
        if status == DIVERGED:
            raise divergence(comm)
        if status == MPI_FAILED:
            raise RuntimeError(f"MPI_Allreduce failed (error code {err}) in round {rec.rounds + 1}")
        t += done
        used += int(bufs.batches[:done].sum())
        algo.t, algo.used = t, used
        if rec.evaluator is not None and rec.evals.due(rec.sfo):
            rec.evaluate(x)
        driver.resumable_point(float(bufs.columns[5, done - 1]))
