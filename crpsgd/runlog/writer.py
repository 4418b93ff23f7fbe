"""The run log's writer (rank 0 only); the schema is in :mod:`crpsgd.runlog.schema`.

Rows are kept in memory and appended in blocks, and every block is flushed to disk at once:
at the latest every ``flush_rows`` rows or ``flush_seconds`` seconds (evaluation rows
included; the first evaluation, the starting point, at once), before every checkpoint and
at the end. Each flush also sets the root attribute ``heartbeat`` (Unix seconds). A flush
costs milliseconds (one resize and write per column), so flushing at every evaluation of
a geometric schedule, dense in the first rounds, would cost more than the rounds.

Write protocol:

1. Take the writer's lock on ``--out`` (:mod:`crpsgd.runlog.lock`) *before* the file is
   created or truncated; when another live process holds it the run is refused
   (:class:`UsageError`, exit status 2) and the file is not touched.
2. Create every group, dataset and attribute, then switch the file to HDF5's
   single-writer/multiple-reader (SWMR) mode, in which the file on disk is consistent after
   every flush: a job killed at any moment keeps every row flushed before the kill.
3. At the end, close the SWMR handle, reopen the file normally to write ``/result``, the
   final ``status`` and ``end_time``, close, and release the lock. A normally closed file
   opens with plain ``h5py.File(path, "r")``.

A file whose writer was killed still carries SWMR's "open for writing" flags, which plain
HDF5 readers refuse; :func:`crpsgd.runlog.repair.repair` (run by ``crpsgd repair`` and
automatically by every ``crpsgd`` command that reads the log once its writer is gone)
rewrites it into a normal file. The file is opened without HDF5's own file locking, so a
SWMR reader can follow a live run.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from crpsgd.errors import UsageError
from crpsgd.files.atomic_write import AtomicFiles
from crpsgd.runlog.lock import LogLock, live_writer_text, take_lock, writer_attrs
from crpsgd.runlog.schema import (
    EVAL_DEFAULTS,
    FORMAT,
    FORMAT_VERSION,
    ROUND_DEFAULTS,
    ROUND_OPTIONAL,
    ROUND_OPTIONAL_SCHEMA,
    SCHEMA,
)
from crpsgd.runlog.series import Series


def attr_value(value: Any) -> Any:
    """HDF5 attributes hold numbers, strings and arrays; None becomes an empty string."""
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return np.asarray(value)
    return value


class RunLog:
    """Writer of one run's log (rank 0). See the module docstring for the protocol."""

    def __init__(
        self,
        path: str | Path,
        attrs: dict[str, Any],
        overwrite: bool = False,
        flush_rows: int = 1024,
        flush_seconds: float = 1.0,
        optional_rounds: tuple[str, ...] = (),
    ) -> None:
        path = Path(path)
        if path.exists() and not overwrite:
            raise UsageError(f"--out={path}: file exists (pass --overwrite to replace it)")
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = take_lock(path)
        try:
            self.file = h5py.File(path, "w", libver="latest", locking=False)
        except BaseException:
            lock.release()
            raise
        self.path = path
        self._lock_file = lock
        root = self.file.attrs
        root["format"] = FORMAT
        root["format_version"] = FORMAT_VERSION
        for key, value in attrs.items():
            root[key] = attr_value(value)
        for key, value in writer_attrs().items():
            root[key] = value
        root["start_time"] = _now()
        root["status"] = "running"
        for group in SCHEMA:
            self.file.create_group(group)
        self.file.create_group("result")
        self._optional_rounds = tuple(optional_rounds)  # ROUND_OPTIONAL columns this run has
        self._start_writing(flush_rows, flush_seconds, existing=False)

    @classmethod
    def resume(
        cls,
        path: str | Path,
        keep_rounds: int,
        flush_rows: int = 1024,
        flush_seconds: float = 1.0,
    ) -> RunLog:
        """Continue the log of a checkpointed run: keep the rows of rounds ``<= keep_rounds``
        (rows logged after the checkpoint will be logged again), drop any ``/result``, set the
        status back to ``running`` and append from there.

        The log is rewritten into a new file that replaces the old one atomically (which also
        repairs a log whose writer was killed in SWMR mode); a log still being written by a
        live run is refused.
        """
        from crpsgd.runlog.repair import rewrite

        path = Path(path)
        if not path.is_file():
            raise UsageError(f"{path}: the run log of the checkpoint is missing")
        old = take_lock(path, f"{path}", "resume once that run has ended")
        try:
            files = AtomicFiles(usage_errors=False)  # a new temporary, renamed over the log
            tmp = files.temp(path, f"--out={path}")
            new = LogLock.acquire(tmp, create=False)
            if new is None:
                files.discard()
                raise UsageError(f"{tmp}: {live_writer_text(tmp)}")
            try:
                rewrite(path, tmp, keep_rounds=keep_rounds)
                files.commit()
            except BaseException:
                new.release()
                files.discard()
                raise
        finally:
            old.release()
        log = cls.__new__(cls)
        log.path = path
        log._lock_file = new
        log.file = h5py.File(path, "r+", libver="latest", locking=False)
        for key, value in writer_attrs().items():
            log.file.attrs[key] = value
        log._optional_rounds = ()  # the rewritten log's own
        log._start_writing(flush_rows, flush_seconds, existing=True)
        return log

    def _start_writing(self, flush_rows: int, flush_seconds: float, existing: bool) -> None:
        """Attach the series to their groups and switch to SWMR mode."""
        group = self.file["rounds"]
        have = set(group) if existing else set(self._optional_rounds)
        extra = {k: c for k, c in ROUND_OPTIONAL_SCHEMA.items() if k in have}
        defaults = {**ROUND_DEFAULTS, **{k: ROUND_OPTIONAL[k] for k in extra}}
        self.rounds = Series(group, {**SCHEMA["rounds"], **extra}, existing, defaults)
        self.evals = Series(self.file["eval"], SCHEMA["eval"], existing)
        self.outer = Series(self.file["outer"], SCHEMA["outer"], existing)
        self._result_arrays: dict[str, np.ndarray] = {}
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._eval_on_disk = existing and self.evals.datasets["round"].shape[0] > 0
        self._last_flush = time.monotonic()
        self._final_attrs: dict[str, Any] = {}
        self._lock = threading.Lock()  # the failure watch may close the log from its thread
        self._heartbeat = True
        self.closed = False
        self.file.swmr_mode = True
        self.flush()

    def set_attrs(self, **attrs: Any) -> None:
        """Root attributes known only during the run; written when the log is closed."""
        self._final_attrs.update(attrs)

    def set_result_array(self, name: str, value: np.ndarray) -> None:
        """A float64 array written as ``/result/<name>`` when the log is closed."""
        self._result_arrays[name] = np.array(value, dtype=np.float64, copy=True)

    def add_round(self, **row: Any) -> None:
        """Append one ``/rounds`` row (the columns of the schema as keywords; those of
        :data:`ROUND_DEFAULTS` may be left out)."""
        pending = self.rounds.pending
        pending.append(row)  # the loop's hot path: the row is converted at the flush
        if (
            len(pending) + self.rounds.block_rows >= self.flush_rows
            or time.monotonic() - self._last_flush >= self.flush_seconds
        ):
            self.flush()

    def add_rounds(self, columns: dict[str, Any], rows: int) -> None:
        """Append ``rows`` ``/rounds`` rows at once: one array of ``rows`` values (or one
        value for all) per column, as :meth:`add_round` takes them one by one; the same
        flush policy counts every row."""
        self.rounds.add_block(columns, rows)
        if (
            len(self.rounds.pending) + self.rounds.block_rows >= self.flush_rows
            or time.monotonic() - self._last_flush >= self.flush_seconds
        ):
            self.flush()

    def add_eval(self, **row: Any) -> None:
        """Append one ``/eval`` row (the columns of the schema; those of
        :data:`EVAL_DEFAULTS` may be left out); the first one is flushed at once, later ones
        with the rows of the next flush that is due (after ``flush_seconds``, at a checkpoint,
        at the close)."""
        first = not self._eval_on_disk
        self.evals.add({**EVAL_DEFAULTS, **row})
        if first or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()
            self._eval_on_disk = True

    def add_outer(self, **row: Any) -> None:
        """Append one ``/outer`` row (every column of the schema); flushed as round rows are."""
        self.outer.add(row)
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self.closed:
            return
        self.rounds.write()
        self.evals.write()
        self.outer.write()
        if self._heartbeat:
            try:  # an attribute of fixed size may be rewritten in SWMR mode
                self.file.attrs.modify("heartbeat", time.time())
            except (OSError, RuntimeError, TypeError, KeyError, ValueError):
                self._heartbeat = False  # an HDF5 that refuses: the lock still tells liveness
        self.file.flush()
        self._last_flush = time.monotonic()

    def finish(self, x: np.ndarray, summary: dict[str, Any]) -> None:
        """Write the returned iterate and the summary, mark the run completed and close."""
        self.close("completed", x, summary)

    def close(
        self, status: str, x: np.ndarray | None = None, summary: dict[str, Any] | None = None
    ) -> None:
        """Flush what is pending, leave SWMR mode, then write ``/result`` (when given), the
        root attributes set during the run, ``status`` and the end time, close, and release
        the writer's lock (also when one of these steps fails)."""
        with self._lock:
            if self.closed:
                return
            try:
                try:
                    self._flush()
                finally:
                    self.closed = True
                    self.file.close()
                self._finalise(status, x, summary)
            finally:
                self._lock_file.release()

    def _finalise(self, status: str, x: np.ndarray | None, summary: dict[str, Any] | None) -> None:
        with h5py.File(self.path, "r+", locking=False) as f:
            if x is not None:
                f["result"].create_dataset("x", data=np.asarray(x, dtype=np.float64))
            for name, value in self._result_arrays.items():
                f["result"].create_dataset(name, data=value)
            for key, value in (summary or {}).items():
                f["result"].attrs[key] = attr_value(value)
            for key, value in self._final_attrs.items():
                f.attrs[key] = attr_value(value)
            f.attrs["heartbeat"] = time.time()
            f.attrs["status"] = status
            f.attrs["end_time"] = _now()


class NullRunLog:
    """What ranks other than 0 hold instead of a :class:`RunLog`: every call does nothing."""

    def set_attrs(self, **attrs: Any) -> None: ...
    def add_round(self, **row: Any) -> None: ...
    def add_rounds(self, columns: dict[str, Any], rows: int) -> None: ...
    def add_eval(self, **row: Any) -> None: ...
    def add_outer(self, **row: Any) -> None: ...
    def set_result_array(self, name: str, value: np.ndarray) -> None: ...
    def flush(self) -> None: ...
    def finish(self, x: np.ndarray, summary: dict[str, Any]) -> None: ...
    def close(
        self, status: str, x: np.ndarray | None = None, summary: dict[str, Any] | None = None
    ) -> None: ...


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
