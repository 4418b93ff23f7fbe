"""A rank's life before the run loop: signals installed first thing, a guarded MPI start.

Signals (installed by :func:`install_signal_handlers`, the first thing ``crpsgd run`` does,
before numpy, Numba or MPI are imported):

* ``SIGTERM``, ``SIGUSR1`` and ``SIGINT`` request a stop. The request waits in this module
  until the run's :class:`~crpsgd.comm.communicator.Communicator` exists (:func:`attach`), then
  travels in the control slot of the next round's Allreduce, so every rank stops after the same
  round, writes a checkpoint and exits with status 75. A request made during set-up (data
  loading, Numba compilation) is honoured after the first round. A second ``SIGINT`` on the
  same rank does not wait for the round: it raises ``KeyboardInterrupt`` and the job is
  aborted (exit status 130, the log says ``failed: rank R: interrupted``).
* ``SIGHUP``, ``SIGQUIT``, ``SIGUSR2``, ``SIGALRM`` and ``SIGXCPU``, which would end the
  process, raise :class:`~crpsgd.errors.Terminated` instead: the rank reports the signal
  to rank 0, which records it in the log, and the whole job is aborted with status
  ``128 + signal``.

The handlers are installed again once MPI has started, because an MPI library may take a
signal for itself while it starts (MPICH's UCX layer takes SIGHUP to raise its own log
level, and the process would go on).

Start-up guard (:func:`guarded_mpi_start`): MPICH's ``MPI_Init`` waits, holding the
interpreter, for every rank of the job; a rank that died before reaching it (killed, or an
import failing on one node) would leave the others waiting forever. A forked watchdog
process ends this rank with one message when ``MPI_Init`` has not returned after
``CRPSGD_START_TIMEOUT`` seconds (default 120).

The test suite's hooks around the start (a rank that exits before MPI, a delay before the
set-up) are in :mod:`crpsgd._testing`.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from typing import Any

from crpsgd.errors import Terminated

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
ABORT_SIGNALS = (signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR2, signal.SIGALRM, signal.SIGXCPU)
START_TIMEOUT_S = 120.0
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_NTASKS")

_state: dict[str, Any] = {"pending": False, "target": None, "interrupts": 0}


def request_stop(signum: int, frame: object) -> None:
    """Signal handler of :data:`STOP_SIGNALS`: record a stop request (the second SIGINT
    on this rank raises ``KeyboardInterrupt``)."""
    if signum == signal.SIGINT:
        _state["interrupts"] += 1
        if _state["interrupts"] > 1:
            raise KeyboardInterrupt
    _state["pending"] = True
    target = _state["target"]
    if target is not None:
        target.stop_requested = True


def terminate(signum: int, frame: object) -> None:
    """Signal handler of :data:`ABORT_SIGNALS`: leave by the failure path, not by dying."""
    raise Terminated(signum)


def install_signal_handlers() -> dict[int, Any]:
    """Install the handlers of both signal sets (main thread only; idempotent); returns
    the previous handlers (for :func:`restore_signal_handlers`)."""
    previous = {sig: signal.signal(sig, request_stop) for sig in STOP_SIGNALS}
    previous.update({sig: signal.signal(sig, terminate) for sig in ABORT_SIGNALS})
    return previous


def restore_signal_handlers(previous: dict[int, Any]) -> None:
    """Put back the handlers :func:`install_signal_handlers` replaced (for callers that
    run ``crpsgd`` inside their own process, such as tests)."""
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    detach()


def attach(comm: Any) -> None:
    """From now on a stop request sets ``comm.stop_requested``; one made earlier does now."""
    _state["target"] = comm
    if _state["pending"]:
        comm.stop_requested = True


def detach() -> None:
    """Forget the communicator and any stop request (the run it belonged to is over)."""
    _state.update(pending=False, target=None, interrupts=0)


def launcher_size() -> int:
    """The job's rank count as the launcher's environment states it (1 without one)."""
    for var in _SIZE_VARIABLES:
        try:
            return max(1, int(os.environ[var]))
        except (KeyError, ValueError):
            continue
    return 1


def start_timeout() -> float:
    """``CRPSGD_START_TIMEOUT`` in seconds (default :data:`START_TIMEOUT_S`)."""
    try:
        value = float(os.environ.get("CRPSGD_START_TIMEOUT", START_TIMEOUT_S))
    except ValueError:
        return START_TIMEOUT_S
    return value if value > 0 else START_TIMEOUT_S


def guarded_mpi_start(rank: int, timeout: float | None = None) -> None:
    """Initialise MPI (import ``mpi4py.MPI``) under a watchdog process.

    The watchdog, forked before ``MPI_Init`` (no MPI state yet), waits on a pipe; when the
    parent closes it (MPI started) the watchdog exits. If ``timeout`` seconds pass first, it
    prints one message and kills this rank, so a job one of whose ranks never started ends.
    Without a multi-rank launcher, or with MPI already started, it only imports mpi4py.
    """
    if "mpi4py.MPI" in sys.modules or launcher_size() < 2 or not hasattr(os, "fork"):
        import mpi4py.MPI  # noqa: F401

        return
    timeout = start_timeout() if timeout is None else timeout
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the watchdog: no Python cleanup, no MPI, no flush of inherited buffers
        os.close(write_end)
        try:
            ready, _, _ = select.select([read_end], [], [], timeout)
            if not ready:
                message = (
                    f"crpsgd: rank {rank}: MPI did not start within {timeout:g} s (a rank "
                    "of the job died before starting?); ending this rank\n"
                )
                os.write(2, message.encode())
                os.kill(os.getppid(), signal.SIGKILL)
        finally:
            os._exit(0)
    os.close(read_end)
    try:
        import mpi4py.MPI  # noqa: F401  (MPI_Init)
    finally:
        os.close(write_end)
        os.waitpid(pid, 0)


def drain_standard_streams(timeout: float = 1.0) -> None:
    """Flush stdout and stderr and, where they are pipes (an MPI launcher's proxy reads them),
    wait up to ``timeout`` seconds until the reader has taken every byte.

    ``MPI_Abort`` makes the launcher kill the job at once; a message still in the pipe would
    be lost, and the job would end with its status but without its one line."""
    import fcntl
    import stat
    import struct
    import termios

    deadline = time.monotonic() + timeout
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
            fd = stream.fileno()
            if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                continue
            while time.monotonic() < deadline:
                unread = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
                if unread == 0:
                    break
                time.sleep(0.005)
        except BaseException:  # a closed or odd stream must not stop the abort that follows
            pass
