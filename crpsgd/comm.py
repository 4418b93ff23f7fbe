"""Collectives: the only module that imports mpi4py.

:class:`Communicator` wraps an MPI communicator (``COMM_WORLD`` unless one is passed in) and
keeps two sets of counters:

* **rounds** -- the communication rounds of the algorithm: one in-place ``Allreduce`` of one
  contiguous float64 buffer each (:meth:`Communicator.allreduce_mean_`);
* **evaluation** -- collectives that only serve logging and set-up (full objective, ``L``,
  ``f*``), which the theory does not count (:meth:`Communicator.eval_allreduce_sum_`).

Bytes are the payload one rank contributes (``buffer.nbytes``); seconds are ``MPI.Wtime``
wall-clock seconds spent inside the collective on this rank. On one rank with no launcher
the collectives are plain copies and everything works the same.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

from crpsgd.errors import UsageError


@dataclass
class CommStats:
    """Counters of one rank: rounds and evaluation collectives are kept apart."""

    rounds: int = 0
    round_bytes: int = 0
    round_seconds: float = 0.0
    eval_calls: int = 0
    eval_bytes: int = 0
    eval_seconds: float = 0.0


class Communicator:
    """Allreduce-mean rounds with counters, plus the few control collectives the CLI needs."""

    def __init__(self, comm: MPI.Comm | None = None) -> None:
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.stats = CommStats()

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def allreduce_mean_(self, buf: np.ndarray) -> np.ndarray:
        """One communication round: ``buf <- (1/N) sum_ranks buf``, in place.

        ``buf`` must be a contiguous float64 array; it travels through the buffer interface,
        never pickled. Returns ``buf``.
        """
        t0 = MPI.Wtime()
        self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        if self.size > 1:
            buf /= self.size
        self.stats.round_seconds += MPI.Wtime() - t0
        self.stats.rounds += 1
        self.stats.round_bytes += buf.nbytes
        return buf

    def eval_allreduce_sum_(self, buf: np.ndarray) -> np.ndarray:
        """An evaluation collective (not a round): ``buf <- sum_ranks buf``, in place."""
        t0 = MPI.Wtime()
        self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        self.stats.eval_seconds += MPI.Wtime() - t0
        self.stats.eval_calls += 1
        self.stats.eval_bytes += buf.nbytes
        return buf

    def eval_allreduce_max(self, value: float) -> float:
        """An evaluation collective (not a round): the maximum of a scalar over ranks."""
        buf = np.array([value], dtype=np.float64)
        t0 = MPI.Wtime()
        self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.MAX)
        self.stats.eval_seconds += MPI.Wtime() - t0
        self.stats.eval_calls += 1
        self.stats.eval_bytes += buf.nbytes
        return float(buf[0])

    def barrier(self) -> None:
        self.comm.Barrier()

    def wtime(self) -> float:
        return MPI.Wtime()

    def bcast(self, obj: object, root: int = 0) -> object:
        """Broadcast a small Python object (set-up only, never in the loop)."""
        return self.comm.bcast(obj, root=root)

    def raise_if_any(self, error: BaseException | None) -> None:
        """Collective error agreement: every rank calls this after a step that may fail.

        If any rank passed an exception, that rank re-raises it and every other rank raises a
        :class:`UsageError` (or ``RuntimeError``) with the message of the lowest failing rank,
        so all ranks leave together and rank 0 can print one message.
        """
        flag = np.array([0 if error is None else 1], dtype=np.int32)
        self.comm.Allreduce(MPI.IN_PLACE, flag, op=MPI.SUM)
        if flag[0] == 0:
            return
        failures = self.comm.allgather(None if error is None else (type(error), str(error)))
        if error is not None:
            raise error
        exc_type, message = next(f for f in failures if f is not None)
        if issubclass(exc_type, UsageError):
            raise UsageError(message)
        raise RuntimeError(message)

    def abort(self, code: int = 1) -> None:
        """End every rank of the job at once (after an error on this rank alone)."""
        sys.stdout.flush()
        sys.stderr.flush()
        self.comm.Abort(code)


def mpi_library_version() -> str:
    """First line of the MPI library's version string, e.g. ``MPICH Version: 4.2.0``."""
    return " ".join(MPI.Get_library_version().splitlines()[0].split())
