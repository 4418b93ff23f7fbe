"""An advisory lock that marks a run log as being written by a live process.

The writer holds a write lock on the whole log file from before it creates (or truncates)
the file until after it wrote the final status. Another writer (a second job with the same
``--out``, a resume, ``crpsgd repair``) first takes the same lock without waiting and
refuses when it is held; a reader asks whether it is held (:func:`is_locked`) to tell a
live run from one whose writer is gone. The kernel drops the lock when the process dies,
however it dies, so a ``kill -9`` never leaves a stale lock.

On Linux the lock is an *open file description* lock (``F_OFD_SETLK``): it belongs to our
own descriptor, so HDF5 opening and closing the same file in this process does not drop it
(as it would drop a classic POSIX lock), and it is independent of the ``flock`` locks that
HDF5 itself takes, so HDF5 tools reading the file are not blocked by it. Elsewhere
``flock`` is used. Where the file system has no locks (``ENOLCK``, ``EOPNOTSUPP``), nothing
is locked and :func:`is_locked` answers ``None`` (unknown).
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

import h5py

from crpsgd.errors import UsageError

_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}
_BUSY = {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK}
_OFD = hasattr(fcntl, "F_OFD_SETLK") and struct.calcsize("P") == 8


def _flock_struct(kind: int) -> bytes:
    # struct flock on 64-bit Linux: short l_type, l_whence; off_t l_start, l_len; pid_t l_pid
    return struct.pack("hhqqi4x", kind, os.SEEK_SET, 0, 0, 0)


class LogLock:
    """The writer's lock on one log file; :meth:`release` (or process exit) drops it."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    @classmethod
    def acquire(cls, path: Path, create: bool = True) -> LogLock | None:
        """Lock ``path`` (created empty when absent and ``create``) for writing.

        Returns the lock, a lock that holds nothing where the file system has no locks, or
        ``None`` when another live process holds it.
        """
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        fd = os.open(path, flags, 0o644)
        try:
            if _OFD:
                fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _flock_struct(fcntl.F_WRLCK))
            else:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in _BUSY:
                os.close(fd)
                return None
            if exc.errno in _NO_LOCKS:
                os.close(fd)
                return cls(None)
            os.close(fd)
            raise
        return cls(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing our description releases its lock


def is_locked(path: Path) -> bool | None:
    """Whether a live process holds the writer's lock on ``path`` (``None``: cannot tell)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if _OFD:
            answer = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, _flock_struct(fcntl.F_WRLCK))
            return struct.unpack("hhqqi4x", answer)[0] != fcntl.F_UNLCK
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            return True if exc.errno in _BUSY else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return None
    finally:
        os.close(fd)


def writer_attrs() -> dict[str, Any]:
    """The writer's identity and first heartbeat, as root attributes."""
    return {
        "writer_host": socket.gethostname(),
        "writer_pid": os.getpid(),
        "heartbeat": time.time(),
    }


def take_lock(path: Path, name: str | None = None, advice: str = "") -> LogLock:
    """The writer's lock on ``path``, or :class:`UsageError` naming the live writer
    (``name`` defaults to ``--out=PATH``)."""
    lock = LogLock.acquire(path)
    if lock is None:
        advice = advice or "wait for it to end or choose another --out"
        raise UsageError(f"{name or f'--out={path}'}: {live_writer_text(path)}; {advice}")
    return lock


def refuse_if_live(path: str | Path, name: str | None = None) -> None:
    """:class:`UsageError` when a live process is writing the log ``path`` (a cheap check
    before any work; :class:`RunLog` itself takes the lock atomically)."""
    path = Path(path)
    if path.is_file() and is_locked(path):
        advice = "wait for it to end or choose another --out"
        raise UsageError(f"{name or f'--out={path}'}: {live_writer_text(path)}; {advice}")


def live_writer_text(path: Path) -> str:
    """``being written by a live run (pid P on host H)``, as far as the log says."""
    who = ""
    try:
        with h5py.File(path, "r", swmr=True, locking=False) as f:
            who = f" (pid {f.attrs['writer_pid']} on host {f.attrs['writer_host']})"
    except (OSError, KeyError):
        pass
    return f"being written by a live run{who}"
