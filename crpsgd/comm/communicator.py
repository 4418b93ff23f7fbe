"""Collectives: the only module that imports mpi4py (with :mod:`crpsgd.comm.native`, which
binds the same library's C functions for the compiled block of rounds).

:class:`Communicator` wraps an MPI communicator (``COMM_WORLD`` unless one is passed in) and
keeps two sets of counters:

* **rounds** -- the communication rounds of the algorithm: one ``Allreduce`` of one
  contiguous float64/32 buffer each (:meth:`Communicator.allreduce_mean_`). The buffer carries
  the vector and one control slot, so that a stop request (a signal before a time limit) seen
  by any rank reaches every rank in the same round at no extra message;
* **evaluation** -- collectives that only serve logging and set-up (full objective, ``L``,
  ``f*``), which the theory does not count (:meth:`Communicator.eval_allreduce_sum_`).

Bytes are the payload one rank contributes (``buffer.nbytes``); seconds are ``MPI.Wtime``
wall-clock seconds spent inside the collective on this rank. On one rank with no launcher
the collectives are plain copies and everything works the same.

Failures of one rank reach rank 0 apart from the rounds (:mod:`crpsgd.comm.failures`). The
test suite's hooks (an injected failure, stop or delay before a round) are read in
:mod:`crpsgd._testing`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

from crpsgd import _testing
from crpsgd.comm import failures
from crpsgd.errors import DivergenceError, UsageError
from crpsgd.kernels.round_buffer import unpack_mean


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

    backend = "mpi"  # what the run log records (``--backend``)

    def __init__(self, comm: MPI.Comm | None = None) -> None:
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.stats = CommStats()
        self._fault = _testing.injected_fault("CRPSGD_TEST_FAIL_AT", self.rank)
        self._stop_at = _testing.injected_fault("CRPSGD_TEST_STOP_AT", self.rank)
        self._round_delay_s = _testing.injected_delay("CRPSGD_TEST_ROUND_DELAY")
        self.on_own_failure: Callable[[int, str], None] | None = None
        self.stop_requested = False  # set on this rank, e.g. by a signal handler
        self.stop_agreed = False  # after a round: some rank had requested a stop
        self._work = np.empty(0)
        self._size_as = np.float64(self.size)  # N in the round buffer's dtype
        self.watch_comm = self.comm.Dup()  # failure notices travel apart from the rounds
        failures.ACTIVE[0] = self

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def allreduce_mean_(self, buf: np.ndarray) -> np.ndarray:
        """One communication round: ``buf <- (1/N) sum_ranks buf``, in place.

        ``buf`` must be a contiguous float64 or float32 array (float32 for torch models); it
        travels through the buffer interface, never pickled, with the control slot appended
        in the same dtype (a stop count of at most N is exact in float32 as well). Returns
        ``buf``. A non-finite average (NaN or inf from any rank, the same on every rank)
        raises :class:`DivergenceError` on every rank.
        """
        self._begin_round(buf)
        n = buf.size
        work = self._work
        if work.size != n + 1 or work.dtype != buf.dtype:
            work = self._work = np.empty(n + 1, dtype=buf.dtype)
            self._size_as = buf.dtype.type(self.size)
        t0 = MPI.Wtime()
        work[:n] = buf
        work[n] = 1.0 if self.stop_requested else 0.0
        self.comm.Allreduce(MPI.IN_PLACE, work, op=MPI.SUM)
        return self._end_round(work, buf, t0)

    def native_handles(self) -> tuple[np.ndarray, tuple] | None:
        """For compiled rounds that call MPI themselves (:mod:`crpsgd.comm.native`): the
        addresses ``[MPI_Allreduce, MPI_Wtime, MPI_IN_PLACE]`` and the handles (communicator,
        ``MPI_DOUBLE``, ``MPI_SUM``); None where a round must go through
        :meth:`allreduce_mean_` (a test hook is set, the method is replaced, or MPI's C
        functions cannot be found)."""
        if "allreduce_mean_" in vars(self) or (
            type(self).allreduce_mean_ is not Communicator.allreduce_mean_
        ):
            return None
        if self._fault is not None or self._stop_at is not None or self._round_delay_s:
            return None
        from crpsgd.comm.native import round_handles

        return round_handles(self.comm)

    def eval_allreduce_sum_(self, buf: np.ndarray) -> np.ndarray:
        """An evaluation collective (not a round): ``buf <- sum_ranks buf``, in place."""
        self._maybe_fail("eval", self.stats.eval_calls + 1)
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

    def _begin_round(self, buf: np.ndarray) -> None:
        """What every backend's round does before it sends ``buf``: the buffer's check, the
        test hooks' fault or stop, the test delay."""
        if buf.dtype not in _ROUND_DTYPES or not buf.flags.c_contiguous:
            raise TypeError(
                f"allreduce_mean_ needs a contiguous float64 or float32 array, not "
                f"{buf.dtype}{'' if buf.flags.c_contiguous else ' (non-contiguous)'}"
            )
        if self._fault is not None or self._stop_at is not None:
            self._maybe_fail("round", self.stats.rounds + 1)
        if self._round_delay_s:
            time.sleep(self._round_delay_s)

    def _end_round(self, work: np.ndarray, buf: np.ndarray, t0: float) -> np.ndarray:
        """What every backend's round does once ``work`` holds the sum over ranks: ``buf <-
        work[:n] / N``, the agreed stop, the counters (seconds since ``t0``, bytes), and
        :class:`DivergenceError` on every rank for a non-finite average."""
        stats = self.stats
        finite, self.stop_agreed = unpack_mean(work, self._size_as, buf)
        stats.round_seconds += MPI.Wtime() - t0
        stats.rounds += 1
        stats.round_bytes += work.nbytes
        if not finite:
            raise DivergenceError(stats.rounds, "the averaged vector is not finite")
        return buf

    def _maybe_fail(self, kind: str, count: int) -> None:
        if self._stop_at is not None and self._stop_at == (kind, count):
            self.stop_requested = True
        if self._fault is not None and self._fault == (kind, count):
            raise RuntimeError(f"injected failure before {kind} {count} (CRPSGD_TEST_FAIL_AT)")

    def same_on_all_ranks(self, value: int, counted: bool = True) -> bool:
        """Whether every rank passed the same 64-bit integer (one evaluation collective;
        with ``counted=False`` a set-up check, counted nowhere, as :meth:`raise_if_any`)."""
        buf = np.array([value, -value], dtype=np.int64)
        if not counted:
            self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.MIN)
            return bool(buf[0] == -buf[1])
        t0 = MPI.Wtime()
        self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.MIN)
        self.stats.eval_seconds += MPI.Wtime() - t0
        self.stats.eval_calls += 1
        self.stats.eval_bytes += buf.nbytes
        return bool(buf[0] == -buf[1])

    def gather(self, obj: object, root: int = 0) -> list | None:
        """Small Python objects of every rank, in rank order, on ``root`` (checkpoints only)."""
        return self.comm.gather(obj, root=root)

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


_ROUND_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def started_by_torchrun() -> bool:
    """Whether ``torchrun`` (or a launcher that sets its variables) started this process
    rather than an MPI launcher: ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``
    are set, and MPI has this process alone."""
    names = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    return all(v in os.environ for v in names) and MPI.COMM_WORLD.Get_size() == 1


def mpi_library_version() -> str:
    """First line of the MPI library's version string, e.g. ``MPICH Version: 4.2.0``."""
    return " ".join(MPI.Get_library_version().splitlines()[0].split())
