"""A rank that fails alone: its message reaches rank 0, then the whole job ends.

A rank that fails alone cannot reach the collective the others wait in, so it reports to rank
0 on a separate communicator (:func:`report_failure`), where a :class:`FailureWatch` thread
records the failure (in the run log) and acknowledges; then the failing rank aborts the whole
job (:func:`abort_job`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from mpi4py import MPI

#: The communicator of this process (set by :class:`~crpsgd.comm.communicator.Communicator`
#: when made), whose failure handler and watch communicator :func:`report_failure` uses.
ACTIVE: list[Any] = [None]
_NOTICE, _ACK = 7301, 7302


class FailureWatch:
    """Rank 0's listener for failure notices from other ranks.

    A daemon thread polls (every ``poll_s`` seconds, so it takes no core from the ranks) the
    failure communicator; for each notice it calls ``on_failure(rank, message)`` and
    acknowledges, after which the failing rank aborts the job. Use as a context manager
    around the run, on every rank (it does nothing but on rank 0 of a multi-rank job).
    """

    def __init__(
        self, comm: Any, on_failure: Callable[[int, str], None], poll_s: float = 0.05
    ) -> None:
        self.comm = comm
        self.on_failure = on_failure
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FailureWatch:
        self.comm.on_own_failure = self.on_failure
        if self.comm.is_root and self.comm.size > 1:
            self._thread = threading.Thread(
                target=self._listen, name="crpsgd-failures", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:  # on an error, report_failure still needs the handler
            self.comm.on_own_failure = None
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _listen(self) -> None:
        wc = self.comm.watch_comm
        status = MPI.Status()
        while not self._stop.is_set():
            if wc.Iprobe(source=MPI.ANY_SOURCE, tag=_NOTICE, status=status):
                source = status.Get_source()
                message = wc.recv(source=source, tag=_NOTICE)
                _call_quietly(self.on_failure, source, message)
                wc.send(True, dest=source, tag=_ACK)
            else:
                time.sleep(self.poll_s)


def _call_quietly(handler: Callable[[int, str], None], rank: int, message: str) -> None:
    """Run a failure handler; an error inside it (the log's disk is full too) must not stop
    the abort that follows, so it is dropped: the failing rank's own message is the one."""
    try:
        handler(rank, message)
    except BaseException:  # even KeyboardInterrupt: the abort goes on
        pass


def report_failure(message: str, timeout: float = 10.0) -> None:
    """Tell rank 0 (its :class:`FailureWatch`) that this rank failed, and wait at most
    ``timeout`` seconds for the acknowledgement. On rank 0 itself the handler runs here.

    Never raises: it is called on the way to :func:`abort_job`, which must be reached."""
    try:
        _report_failure(message, timeout)
    except BaseException:
        pass


def _report_failure(message: str, timeout: float) -> None:
    active = ACTIVE[0]
    if active is None:
        return
    handler = getattr(active, "on_own_failure", None)
    if active.is_root:
        if handler is not None:
            _call_quietly(handler, 0, message)
        return
    if handler is None:  # no watch running: nobody listens on rank 0
        return
    wc = active.watch_comm
    request = wc.isend(message, dest=0, tag=_NOTICE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wc.Iprobe(source=0, tag=_ACK):
            wc.recv(source=0, tag=_ACK)
            break
        time.sleep(0.02)
    else:
        request.Cancel()


def abort_job(code: int) -> None:
    """End every rank of the job at once (used after an error on one rank); never returns
    normally while MPI runs, whatever state the standard streams are in."""
    from crpsgd.comm.lifecycle import drain_standard_streams

    drain_standard_streams()
    MPI.COMM_WORLD.Abort(code)


def end_job_for(message: str, code: int) -> None:
    """This rank failed on its own (the others may wait in a collective): have rank 0 record
    ``message`` (its :class:`FailureWatch`), then end every rank with status ``code``. A job of
    one rank is left to end by itself. Nothing here stops the abort: a second failure on the
    way (the log cannot be closed, another signal) is dropped and the abort still happens."""
    if world_size() <= 1:
        return
    try:
        try:
            report_failure(message)
        finally:
            abort_job(code)
    except BaseException:
        MPI.COMM_WORLD.Abort(code)


def world_size() -> int:
    return MPI.COMM_WORLD.Get_size()
