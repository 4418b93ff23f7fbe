"""Run control of the round loop: checkpoints, stop requests and replica checks.

The loop (:class:`~crpsgd.algorithms.driver.Driver`) calls :meth:`RunControl.after_round`
at each resumable point (after every round; Catalyst: at the end of each outer iteration,
whose inner runs are short), with everything needed to continue from there. The control then

* compares a hash of the iterate across ranks every ``check_sync`` rounds (one small
  evaluation collective), and stops the run if the replicas differ;
* writes a checkpoint (:mod:`crpsgd.files.checkpoint`) when ``checkpoint_every`` rounds passed since
  the last one, or when a stop was requested: a signal on any rank sets
  ``comm.stop_requested``, which the round's own Allreduce carries to every rank
  (``comm.stop_agreed``), so all ranks stop after the same round;
* after a stop, raises :class:`~crpsgd.errors.Preempted` on every rank.

A loop resumed from a checkpoint receives a :class:`Resume` and continues exactly where the
checkpointed run was: same iterate, counters, schedule position and random streams, so the
resumed run ends with the iterate of the run that was never interrupted, bit for bit.
"""

from __future__ import annotations

import hashlib
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crpsgd.comm import lifecycle
from crpsgd.comm.communicator import Communicator
from crpsgd.comm.lifecycle import STOP_SIGNALS
from crpsgd.errors import Preempted, ReplicaMismatch
from crpsgd.files.checkpoint import Checkpoint, rng_state, write_checkpoint
from crpsgd.runlog import NullRunLog, RunLog


@dataclass
class Resume:
    """Where a resumed loop continues: the run's counters after ``rounds`` rounds, the
    evaluation schedule, the seconds already spent (wall clock, and its compute,
    communication and evaluation parts), and the loop's own state."""

    rounds: int
    sfo: int
    eval_last_sfo: int
    wall_s: float
    arrays: dict[str, np.ndarray]
    state: dict[str, Any] = field(default_factory=dict)
    compute_s: float = 0.0
    comm_s: float = 0.0
    eval_s: float = 0.0

    def rank_arrays(self, rank: int) -> dict[str, np.ndarray]:
        """The per-rank arrays of ``rank`` (stored as ``<name>@rank<rank>``), by name."""
        suffix = f"@rank{rank}"
        return {k[: -len(suffix)]: v for k, v in self.arrays.items() if k.endswith(suffix)}

    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint) -> Resume:
        return cls(
            rounds=ckpt.rounds,
            sfo=ckpt.sfo_per_worker,
            eval_last_sfo=int(ckpt.state["eval_last_sfo"]),
            wall_s=float(ckpt.state["wall_s"]),
            arrays=ckpt.arrays,
            state=ckpt.state,
            compute_s=float(ckpt.state.get("compute_s", 0.0)),
            comm_s=float(ckpt.state.get("comm_s", 0.0)),
            eval_s=float(ckpt.state.get("eval_s", 0.0)),
        )


class RunControl:
    """Checkpoint policy, stop requests and replica checks of one run (every rank holds one).

    ``header`` holds what a checkpoint records besides the loop state: ``config``,
    ``algorithm``, ``log_path``, ``run_id`` and ``inputs`` (which log and which data the
    checkpoint belongs to, checked at ``--resume``) and ``extra`` (a dict merged into the
    checkpoint's state, e.g. the step size actually used).
    """

    def __init__(
        self,
        comm: Communicator,
        path: Path | None,
        every: int = 0,
        check_sync: int = 0,
        header: dict[str, Any] | None = None,
        start_rounds: int = 0,
        log: RunLog | NullRunLog | None = None,
    ) -> None:
        self.comm = comm
        self.log = log if log is not None else NullRunLog()
        self.path = path
        self.every = every
        self.check_sync = check_sync
        self.header = header or {}
        self.saved_rounds = start_rounds
        self.checkpoints_written = 0

    def due(self, rounds: int) -> bool:
        """Whether :meth:`after_round` has anything to do after round ``rounds``: a replica
        check, a checkpoint or an agreed stop. A loop may skip the call (and gathering its
        arguments) when not; calling it anyway is the same."""
        return bool(
            (self.check_sync and rounds % self.check_sync == 0)
            or self.comm.stop_agreed
            or (self.path is not None and self.every and rounds - self.saved_rounds >= self.every)
        )

    def next_due(self, rounds: int) -> int | None:
        """The first round after ``rounds`` after which :meth:`due` is true by the policy
        alone (a replica check or a periodic checkpoint; a stop is agreed in a round), or
        None when the policy has nothing planned."""
        planned = []
        if self.check_sync:
            planned.append((rounds // self.check_sync + 1) * self.check_sync)
        if self.path is not None and self.every:
            planned.append(max(rounds + 1, self.saved_rounds + self.every))
        return min(planned) if planned else None

    def after_round(
        self,
        rounds: int,
        sfo: int,
        eval_last_sfo: int,
        wall_s: float,
        x: np.ndarray,
        rng: np.random.Generator,
        arrays: dict[str, np.ndarray] | None = None,
        state: dict[str, Any] | None = None,
        seconds: dict[str, float] | None = None,
        rank_arrays: Callable[[], dict[str, np.ndarray]] | None = None,
    ) -> None:
        """Called by every rank after round ``rounds`` (collective when anything is due).

        ``seconds`` holds the compute, communication and evaluation seconds spent so far
        (``compute_s``, ``comm_s``, ``eval_s``), which a resumed run adds to its own.
        ``arrays`` are the same on every rank (rank 0's are written); ``rank_arrays`` returns
        this rank's own (e.g. a problem's :meth:`~crpsgd.problems.base.Problem.state_arrays`),
        gathered with the random states and kept as ``<name>@rank<r>``.
        """
        if self.check_sync and rounds % self.check_sync == 0:
            self.verify_replicas(x, rounds)
        stop = self.comm.stop_agreed
        due = self.every and rounds - self.saved_rounds >= self.every
        if self.path is not None and (due or stop):
            loop_state = {
                "eval_last_sfo": eval_last_sfo,
                "wall_s": wall_s,
                **(seconds or {}),
                **(state or {}),
            }
            own = rank_arrays() if rank_arrays is not None else {}
            self.save(rounds, sfo, rng, {"x": x, **(arrays or {})}, loop_state, own)
        if stop:
            raise Preempted(rounds, self.path)

    def save(
        self,
        rounds: int,
        sfo: int,
        rng: np.random.Generator,
        arrays: dict[str, np.ndarray],
        state: dict[str, Any],
        rank_arrays: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Gather every rank's random-generator state and own arrays; rank 0 flushes the log
        (so that it holds every row up to the checkpoint) and writes the checkpoint."""
        gathered = self.comm.gather((rng_state(rng), rank_arrays or {}))
        if self.comm.is_root:
            states = [g[0] for g in gathered]
            for r, (_, own) in enumerate(gathered):
                arrays = {**arrays, **{f"{k}@rank{r}": v for k, v in own.items()}}
            self.log.flush()
            write_checkpoint(
                self.path,
                Checkpoint(
                    config=self.header.get("config", {}),
                    n_workers=self.comm.size,
                    algorithm=self.header.get("algorithm", ""),
                    log_path=self.header.get("log_path", ""),
                    rounds=rounds,
                    sfo_per_worker=sfo,
                    rng_states=states,
                    arrays=arrays,
                    state={**self.header.get("extra", {}), **state},
                    run_id=self.header.get("run_id", ""),
                    inputs=self.header.get("inputs", {}),
                ),
            )
        self.comm.barrier()  # nobody goes on (or exits) before the file is complete
        self.saved_rounds = rounds
        self.checkpoints_written += 1

    def verify_replicas(self, x: np.ndarray, rounds: int) -> None:
        """Stop every rank if the ranks' iterates are not bitwise equal."""
        digest = hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=7).digest()
        if not self.comm.same_on_all_ranks(int.from_bytes(digest, "little")):
            raise ReplicaMismatch(
                f"the ranks' iterates differ after round {rounds} (--check-sync): a rank "
                "computed differently (hardware fault, non-deterministic library or a bug)"
            )


@contextmanager
def stop_on_signals(comm: Communicator) -> Iterator[None]:
    """While active, SIGTERM, SIGUSR1 (what SLURM sends before a time limit) and SIGINT
    request a stop: the run checkpoints after the current round on every rank and exits
    (status 75). A request made before (``crpsgd run`` installs the same handlers first
    thing, :mod:`crpsgd.comm.lifecycle`) counts: it is honoured after the first round.

    SIGINT behaves like SIGTERM so that Ctrl-C loses no work; a second SIGINT on the same
    rank aborts the job at once (``KeyboardInterrupt``, exit status 130).

    When the block ends normally the run is complete, and a SIGTERM or SIGUSR1 that arrives
    later (the launcher forwarding SLURM's signal while the log is finished or MPI shuts
    down) has nothing left to stop: from then on the process ignores it, so a completed run
    still exits 0 instead of dying by the signal; SIGINT gets its previous handler back.
    When the block ends by an exception every previous handler comes back.
    """
    previous = {sig: signal.signal(sig, lifecycle.request_stop) for sig in STOP_SIGNALS}
    lifecycle.attach(comm)
    try:
        yield
    except BaseException:
        lifecycle.detach()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        raise
    lifecycle.detach()
    for sig in STOP_SIGNALS:
        signal.signal(sig, previous[sig] if sig == signal.SIGINT else signal.SIG_IGN)
