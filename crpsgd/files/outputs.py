"""Writing outputs during the run: a failure is one :class:`~crpsgd.errors.OutputError`.

The run log (``--out``) is written through :class:`GuardedLog`. Any exception from the
writer (full disk, quota, an I/O error, a directory removed under the run) becomes an
:class:`OutputError` whose message names ``--out``, the file and the reason in one line
(HDF5's long error text reduced to ``[Errno 28] No space left on device``). After the first
failure the file is never touched again, so every row flushed before it stays readable, and
closing the log on the failure path (:meth:`GuardedLog.close`) never raises: the first
failure is the one reported, and the job is still aborted.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from crpsgd.errors import OutputError

_HDF5_ERRNO = re.compile(r"errno = (\d+)")
_HDF5_TEXT = re.compile(r"error message = '([^']*)'")


def reason(exc: BaseException) -> str:
    """One short line saying why a write failed: ``[Errno N] strerror`` when the error (or
    HDF5's text inside it) carries an errno, else the exception's first line."""
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and errno > 0:
        return f"[Errno {errno}] {os.strerror(errno)}"
    text = str(exc)
    found = _HDF5_ERRNO.search(text)
    if found and int(found.group(1)) > 0:
        return f"[Errno {found.group(1)}] {os.strerror(int(found.group(1)))}"
    found = _HDF5_TEXT.search(text)
    if found:
        return found.group(1)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:300]


def output_error(flag: str, path: str | Path, what: str, exc: BaseException) -> OutputError:
    """``--flag=PATH: cannot write the <what>: <reason>``."""
    return OutputError(f"{flag}={path}: cannot write the {what}: {reason(exc)}")


class GuardedLog:
    """A run log (``RunLog`` on rank 0, ``NullRunLog`` elsewhere) whose write failures are
    :class:`OutputError` naming ``flag``; see the module docstring."""

    def __init__(self, log: Any, path: str | Path, flag: str = "--out") -> None:
        self._log = log
        self._path = path
        self._flag = flag
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        """The log's attribute; a method comes back guarded, and is guarded once: the wrapper
        is kept on this object, so the loop's per-round calls do not come through here."""
        attr = getattr(self._log, name)
        if not callable(attr):
            return attr

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.failed:
                return None
            try:
                return attr(*args, **kwargs)
            except Exception as exc:
                self.failed = True
                raise output_error(self._flag, self._path, "run log", exc) from None

        self.__dict__[name] = guarded
        return guarded

    def close(self, status: str, *args: Any, **kwargs: Any) -> bool:
        """Record ``status`` and close, on the failure path: never raises; returns whether
        the status was written."""
        if self.failed:
            return False
        try:
            self._log.close(status, *args, **kwargs)
            return True
        except BaseException:  # the failure being reported matters, not this one
            self.failed = True
            return False
