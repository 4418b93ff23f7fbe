"""The one round loop of every algorithm: :class:`Driver` runs an :class:`Algorithm`.

The driver owns what every training loop shares: the wall-clock origin and each round's
compute and communication seconds (``MPI.Wtime``), the ``/rounds`` rows and the run's
counters (:class:`~crpsgd.algorithms.loop_recorder.LoopRecorder`), the evaluation schedule
and progress lines, the step size of each round (a rule of the run's SFO per worker before
the round), the run control (replica checks, the agreed stop of a signal, checkpoints) and
resuming from a checkpoint. An algorithm supplies only its own part, as PyTorch's model
averagers do: its plan (the next round's minibatch and local steps, or the end), its local
work for a round (fill the buffer that the round's one Allreduce averages), how the averaged
vector is applied, its extra ``/rounds`` columns and its state for checkpoints.

Every round runs as::

    batch = algo.next_round(driver)             # None: the run is over
    gamma = step_size(sfo) [* lr_scale]         # sfo: per worker, before the round
    buf = algo.local_work(driver, batch, gamma) # compute (timed)
    comm.allreduce_mean_(buf)                   # ONE Allreduce: one round (timed)
    algo.apply(driver, batch, gamma)            # compute (timed)
    /rounds row (+ algo.columns(), + lr_scale); then, if algo.resumable_rounds, the resumable point

**Learning-rate scaling** (``--lr-scaling``, :mod:`crpsgd.schedules.lr_scaling`) is applied
here and nowhere else: with a rule other than ``constant`` the round's step size is multiplied
by its factor, from the batch and what :meth:`Algorithm.scaling_inputs` gives (the loop's
first batch and the noise estimate), and the factor is logged as ``/rounds/lr_scale``; with
``constant`` nothing is multiplied and nothing more is logged.

**The checkpoint rule.** A checkpoint (and a replica check, and the stop a signal asked
for) happens only at a *resumable point*: where the algorithm's whole state is its iterate
``algo.x`` plus :meth:`Algorithm.checkpoint_state`. An algorithm whose every round ends at
one (``resumable_rounds = True``: PSGD, CR-PSGD, Local SGD) gets a resumable point after
every round; another names its points itself by calling :meth:`Driver.resumable_point`
(CR-PSGD-Catalyst: after each outer iteration). At a resumable point after round ``r``,
:class:`~crpsgd.algorithms.control.RunControl` checks the replicas when ``r`` is a multiple
of ``--check-sync``, writes a checkpoint when at least ``--checkpoint-every`` rounds passed
since the last one or a stop was agreed, and then stops every rank if one was.

An algorithm may also run its rounds in compiled blocks (:meth:`Algorithm.compiled`; PSGD
on logistic regression: :mod:`crpsgd.algorithms.fast_rounds`), with the same rows,
evaluations and resumable points as this loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from crpsgd.algorithms.control import Resume, RunControl
from crpsgd.algorithms.evaluation import Evaluation, Evaluator
from crpsgd.algorithms.loop_recorder import LoopOffset, LoopRecorder, ProgressHook, RunResult
from crpsgd.comm.communicator import Communicator
from crpsgd.errors import UsageError
from crpsgd.problems.base import Problem
from crpsgd.runlog import NullRunLog, RunLog
from crpsgd.schedules.lr_scaling import LrScaling, lr_scaling_from_config
from crpsgd.schedules.step_size import StepSize, as_step_size


class Algorithm:
    """What an algorithm supplies to the :class:`Driver` (defaults: one minibatch step a
    round, no extra columns, no state besides the iterate). Subclass and define
    :meth:`start`, :meth:`next_round`, :meth:`local_work` and :meth:`apply`."""

    #: Every round ends at a resumable point (see the module docstring).
    resumable_rounds: bool = True
    #: Minibatches per worker in the round :meth:`next_round` just planned (Local SGD: ``h``).
    local_steps: int = 1
    #: SFO per worker of the round just applied when its minibatches differ (a growing inner
    #: batch); None: ``batch * local_steps``.
    round_sfo: int | None = None
    #: The run's iterate: what is evaluated, logged as the result and checkpointed as ``x``.
    x: np.ndarray

    def start(self, driver: Driver, x0: np.ndarray) -> None:
        """Allocate the arrays, with the iterate ``x`` a copy of ``x0`` (the checkpoint's
        when resuming)."""
        raise NotImplementedError

    def restore(self, driver: Driver, resume: Resume | None) -> None:
        """After the start (evaluated, or counters taken from the checkpoint): continue from
        ``resume.state`` and ``resume.arrays`` (what :meth:`checkpoint_state` gave), or set
        up a fresh run when ``resume`` is None."""

    def next_round(self, driver: Driver) -> int | None:
        """The minibatch size per worker of the next round (and set :attr:`local_steps`), or
        None when the budget holds no further round."""
        raise NotImplementedError

    def local_work(self, driver: Driver, batch: int, gamma: float) -> np.ndarray:
        """This rank's work of the round at step size ``gamma``: returns the contiguous
        buffer the round averages (the driver's one Allreduce)."""
        raise NotImplementedError

    def apply(self, driver: Driver, batch: int, gamma: float) -> None:
        """Apply the averaged buffer (now the same on every rank) to the iterate."""
        raise NotImplementedError

    def columns(self) -> dict[str, float] | None:
        """Extra ``/rounds`` columns of the round just applied (e.g. noise estimates)."""
        return None

    def checkpoint_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays (the same on every rank) and JSON state a checkpoint keeps besides ``x``."""
        return {}, {}

    def rank_state(self) -> dict[str, np.ndarray]:
        """This rank's own arrays a checkpoint keeps (e.g. a worker's optimizer state); a
        resumed run finds them in ``resume.rank_arrays(rank)``."""
        return {}

    def compiled(self, driver: Driver) -> Callable[[], None] | None:
        """A callable that runs the remaining rounds in compiled blocks, or None."""
        return None

    def scaling_inputs(self) -> tuple[int, float, float] | None:
        """What ``--lr-scaling`` reads: the loop's first batch ``B_1`` and the noise
        estimate's moving averages ``(tr(Sigma), ||grad f||^2)`` after the last round (NaN:
        none); None where the step does not follow a batch schedule (the option is refused)."""
        return None

    def finish(self, driver: Driver, result: RunResult) -> RunResult:
        """The run's result, from the driver's (e.g. with the algorithm's own fields)."""
        return result


class Driver:
    """Runs an :class:`Algorithm` on every rank of ``comm`` (collective).

    ``problem`` is the run's problem (its per-rank arrays go into checkpoints); ``gamma`` a
    step size or a rule of the SFO per worker before a round; ``rng`` this rank's stream;
    ``evaluator=None`` evaluates nothing; rows go to ``log``; ``offset`` continues the
    counters of an earlier loop of the same run; ``control`` acts at resumable points and
    ``resume`` continues a checkpointed run (the starting point is then the checkpoint's);
    ``lr_scaling`` scales each round's step size with its batch (None: ``constant``).
    """

    def __init__(
        self,
        comm: Communicator,
        problem: Problem,
        gamma: StepSize | float,
        rng: np.random.Generator,
        evaluator: Evaluator | None,
        log: RunLog | NullRunLog | None = None,
        eval_factor: float = 1.25,
        progress: ProgressHook | None = None,
        offset: LoopOffset | None = None,
        control: RunControl | None = None,
        resume: Resume | None = None,
        lr_scaling: LrScaling | None = None,
    ) -> None:
        self.comm = comm
        self.lr_scaling = lr_scaling
        self.problem = problem
        self.step_size = as_step_size(gamma)
        self.rng = rng
        self.control = control
        self.resume = resume
        self.offset = offset if offset is not None else LoopOffset()
        self.rec = LoopRecorder(comm, evaluator, log, eval_factor, progress, offset)
        self.log = self.rec.log
        self.algo: Algorithm | None = None

    @classmethod
    def from_context(cls, ctx: Any) -> Driver:
        """The driver of a :class:`~crpsgd.registry.part_types.RunContext` (``crpsgd run``)."""
        return cls(
            ctx.comm,
            ctx.problem,
            ctx.step_size,
            ctx.rng,
            ctx.evaluator,
            ctx.log,
            ctx.cfg["eval_factor"],
            ctx.progress,
            None,
            ctx.control,
            ctx.resume,
            lr_scaling_from_config(ctx.cfg, ctx.comm.size),
        )

    @property
    def rounds_done(self) -> int:
        """Rounds of this loop so far (the run's, less an offset's)."""
        return self.rec.rounds - self.offset.rounds

    @property
    def sfo_done(self) -> int:
        """SFO per worker of this loop so far (the run's, less an offset's)."""
        return self.rec.sfo - self.offset.sfo

    def run(self, algo: Algorithm, x0: np.ndarray) -> RunResult:
        """Run ``algo`` from ``x0`` (or the checkpoint) until its plan ends; return the
        result with the last iterate evaluated."""
        self.algo = algo
        resume = self.resume
        algo.start(self, x0 if resume is None else resume.arrays["x"])
        self.rec.begin(algo.x, resume)
        if resume is not None:
            self.problem.load_state_arrays(resume.rank_arrays(self.comm.rank))
        algo.restore(self, resume)
        if self.lr_scaling is not None and algo.scaling_inputs() is None:
            raise UsageError(
                f"--lr-scaling={self.lr_scaling.name}: {type(algo).__name__} does not step "
                "with a batch schedule; only --lr-scaling=constant applies to it"
            )
        compiled = algo.compiled(self)
        if compiled is not None:
            compiled()
        else:
            self._loop(algo)
        return algo.finish(self, self.rec.result(algo.x))

    def _loop(self, algo: Algorithm) -> None:
        comm, rec, step_size, control = self.comm, self.rec, self.step_size, self.control
        scaling = self.lr_scaling
        each = algo.resumable_rounds
        wtime = comm.wtime
        while (batch := algo.next_round(self)) is not None:
            if not (batch >= 1 and algo.local_steps >= 1):
                raise ValueError(
                    f"{type(algo).__name__}.next_round planned round {rec.rounds + 1} with "
                    f"batch {batch!r} and local_steps {algo.local_steps!r}; both must be >= 1"
                )
            t0 = wtime()
            gamma = step_size(rec.sfo)
            if scaling is not None:
                scale = scaling.factor(batch, *algo.scaling_inputs())
                gamma = gamma * scale
            buf = algo.local_work(self, batch, gamma)
            t1 = wtime()
            comm.allreduce_mean_(buf)
            t2 = wtime()
            algo.apply(self, batch, gamma)
            t3 = wtime()
            compute_s, comm_s = (t1 - t0) + (t3 - t2), t2 - t1
            columns = algo.columns()
            if scaling is not None:
                columns = {**(columns or {}), "lr_scale": scale}
            rec.round_done(
                algo.x,
                batch,
                algo.local_steps,
                gamma,
                compute_s,
                comm_s,
                t3,
                columns,
                each,
                algo.round_sfo,
            )
            if each and control is not None and control.due(rec.rounds):
                self.checkpoint(t3)

    def evaluate_due(self, x: np.ndarray, final: bool = False) -> Evaluation | None:
        """At an algorithm's own evaluation point: evaluate ``x`` if the evaluation schedule
        says it is due, or ``final`` (then it counts as the last evaluation)."""
        rec = self.rec
        if rec.evaluator is None or not (rec.evals.due(rec.sfo) or final):
            return None
        rec.evals.last_sfo = rec.sfo
        return rec.evaluate(x)

    def resumable_point(self, now: float) -> None:
        """The algorithm is at a resumable point at wall clock ``now``: the run control's
        work, if any is due (the module docstring's rule)."""
        if self.control is not None and self.control.due(self.rec.rounds):
            self.checkpoint(now)

    def checkpoint(self, now: float) -> None:
        """The run control's work after the current round: counters, iterate, streams, the
        algorithm's state and the problem's per-rank arrays."""
        arrays, state = self.algo.checkpoint_state()
        self.control.after_round(
            **self.rec.checkpoint_point(now),
            x=self.algo.x,
            rng=self.rng,
            arrays=arrays or None,
            state=state or None,
            rank_arrays=self._rank_arrays,
        )

    def _rank_arrays(self) -> dict[str, np.ndarray]:
        return {**self.problem.state_arrays(), **self.algo.rank_state()}


def run_algorithm(algo: Algorithm, ctx: Any) -> RunResult:
    """Run ``algo`` with the shared concerns of a :class:`~crpsgd.registry.part_types.RunContext`:
    what an algorithm part's ``execute`` does."""
    return Driver.from_context(ctx).run(algo, ctx.x0)
