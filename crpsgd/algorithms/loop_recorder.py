"""The bookkeeping of a training loop: its counters, ``/rounds`` and ``/eval`` rows,
evaluation points and result (:class:`LoopRecorder`, :class:`EvalSchedule`,
:class:`LoopOffset`, :class:`RunResult`), kept by the one round loop
(:class:`~crpsgd.algorithms.driver.Driver`). Seconds are ``MPI.Wtime`` seconds of this rank.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from crpsgd.algorithms.control import Resume
from crpsgd.algorithms.evaluation import Evaluation, Evaluator
from crpsgd.comm.communicator import Communicator
from crpsgd.runlog import NullRunLog, RunLog

ProgressHook = Callable[[int, int, int, Evaluation, float], None]


@dataclass
class RunResult:
    """What a loop returns: the iterate, its counters and its seconds (this rank).

    ``rounds`` and ``sfo_per_worker`` are the run's cumulative counters (a
    :class:`LoopOffset` included); ``wall_s`` counts from the loop's wall-clock origin;
    ``compute_s``, ``comm_s`` and ``eval_s`` are this call's. ``final`` is the last
    evaluation, None for a loop without an evaluator.
    """

    x: np.ndarray
    rounds: int
    sfo_per_worker: int
    final: Evaluation | None
    wall_s: float
    compute_s: float
    comm_s: float
    eval_s: float
    last_batch: int = 0


@dataclass(frozen=True)
class LoopOffset:
    """Counters a loop continues from: rounds and per-worker SFO already spent in this run,
    the wall-clock origin (``comm.wtime()``; None: now, after a barrier) and the outer
    iteration written to every round row (0: none)."""

    rounds: int = 0
    sfo: int = 0
    start: float | None = None
    outer: int = 0


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

    def rounds_until_due(self, sfo_after: np.ndarray) -> int:
        """Of rounds that end at per-worker SFO ``sfo_after`` (increasing), how many run up to
        and including the first after which :meth:`due` would say yes (all when none);
        changes nothing."""
        hits = np.flatnonzero(sfo_after >= self.factor * self.last_sfo)
        return int(hits[0]) + 1 if hits.size else int(sfo_after.size)


class LoopRecorder:
    """Counters, ``/rounds`` and ``/eval`` rows and evaluation points of one loop (all ranks).

    Evaluations (when an evaluator is given) happen at the start, whenever the run's
    per-worker SFO reached ``eval_factor`` times that of the last evaluation, and at the end.
    """

    def __init__(
        self,
        comm: Communicator,
        evaluator: Evaluator | None,
        log: RunLog | NullRunLog | None,
        eval_factor: float,
        progress: ProgressHook | None,
        offset: LoopOffset | None,
    ) -> None:
        offset = offset if offset is not None else LoopOffset()
        self.comm = comm
        self.evaluator = evaluator
        self.log = log if log is not None else NullRunLog()
        self._add_round = self.log.add_round  # bound once: called every round
        self._size = comm.size
        self.progress = progress
        self.evals = EvalSchedule(eval_factor)
        if offset.start is None:
            comm.barrier()
            self.start = comm.wtime()
        else:
            self.start = offset.start
        self.rounds = offset.rounds
        self.sfo = offset.sfo
        self.outer = offset.outer
        self.batch = 0
        self.compute_s = self.comm_s = self.eval_s = 0.0
        self.last: Evaluation | None = None

    def evaluate(self, x: np.ndarray) -> Evaluation | None:
        """Evaluate ``x`` (an evaluation collective), log an ``/eval`` row, call the hook."""
        if self.evaluator is None:
            return None
        ev = self.evaluator(x)
        self.eval_s += ev.seconds
        wall = self.comm.wtime() - self.start
        self.log.add_eval(
            round=self.rounds,
            sfo_per_worker=self.sfo,
            sfo_total=self.sfo * self.comm.size,
            objective=ev.objective,
            grad_norm_sq=ev.grad_norm_sq,
            suboptimality=ev.suboptimality,
            test_accuracy=ev.test_accuracy,
            wall_s=wall,
            eval_s=ev.seconds,
            test_loss=getattr(ev, "test_loss", float("nan")),  # torch problems
        )
        if self.progress is not None:
            self.progress(self.rounds, self.batch, self.sfo, ev, wall)
        self.last = ev
        return ev

    def begin(self, x: np.ndarray, resume: Resume | None = None) -> None:
        """Evaluate the starting point; or, resuming, take over the checkpointed counters,
        evaluation schedule and seconds (the point was evaluated before the checkpoint)."""
        if resume is None:
            self.evaluate(x)
            self.evals.due(self.sfo)
            return
        self.rounds, self.sfo = resume.rounds, resume.sfo
        self.evals.last_sfo = resume.eval_last_sfo
        self.start = self.comm.wtime() - resume.wall_s
        self.compute_s, self.comm_s, self.eval_s = resume.compute_s, resume.comm_s, resume.eval_s

    def checkpoint_point(self, now: float) -> dict[str, Any]:
        """The counters :meth:`RunControl.after_round` records after a round."""
        return {
            "rounds": self.rounds,
            "sfo": self.sfo,
            "eval_last_sfo": self.evals.last_sfo,
            "wall_s": now - self.start,
            "seconds": {"compute_s": self.compute_s, "comm_s": self.comm_s, "eval_s": self.eval_s},
        }

    def round_done(
        self,
        x: np.ndarray,
        batch: int,
        local_steps: int,
        gamma: float,
        compute_s: float,
        comm_s: float,
        now: float,
        extra: dict[str, float] | None = None,
        evaluate: bool = True,
        sfo: int | None = None,
    ) -> None:
        """Count one round of ``local_steps`` minibatches of ``batch`` rows per worker (or of
        ``sfo`` SFO per worker when given: minibatches of different sizes), log its
        row (with the ``extra`` columns, e.g. the noise estimates or ``outer``, which take
        precedence), and, unless ``evaluate`` is False (the algorithm evaluates at its own
        points), evaluate ``x`` (the iterate after the round) if an evaluation point is due."""
        self.rounds += 1
        self.sfo += batch * local_steps if sfo is None else sfo
        self.batch = batch
        self.compute_s += compute_s
        self.comm_s += comm_s
        row = {
            "round": self.rounds,
            "batch": batch,
            "local_steps": local_steps,
            "outer": self.outer,
            "sfo_per_worker": self.sfo,
            "sfo_total": self.sfo * self._size,
            "step_size": gamma,
            "wall_s": now - self.start,
            "compute_s": compute_s,
            "comm_s": comm_s,
        }
        if extra:
            row.update(extra)
        self._add_round(**row)
        if evaluate and self.evaluator is not None and self.evals.due(self.sfo):
            self.evaluate(x)

    def result(self, x: np.ndarray) -> RunResult:
        """Evaluate the last iterate unless it just was, and return the loop's result."""
        if self.evaluator is not None and self.evals.last_sfo != self.sfo:
            self.evaluate(x)
        return RunResult(
            x=x,
            rounds=self.rounds,
            sfo_per_worker=self.sfo,
            final=self.last,
            wall_s=self.comm.wtime() - self.start,
            compute_s=self.compute_s,
            comm_s=self.comm_s,
            eval_s=self.eval_s,
            last_batch=self.batch,
        )
