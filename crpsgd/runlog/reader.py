"""Reading run logs of every format version, finished, running or cut short.

Besides the data, the reader says whether the writer is still alive (:attr:`RunRecord.state`):

* ``"ended"``: the log has a final status (``completed``, ``failed: ...``, ``preempted: ...``);
* ``"live"``: status ``running`` and a live process holds the writer's lock
  (:mod:`crpsgd.runlog.lock`);
* ``"dead"``: status ``running`` but no process holds the lock (or, where the file system has
  no locks, the writer's PID is gone on this host, or its heartbeat is older than
  :data:`STALE_HEARTBEAT_S` on another host): the writer was killed (``kill -9``, OOM, node
  lost) before it could write a status;
* ``"unknown"``: status ``running`` and neither test can answer.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from crpsgd.errors import UsageError
from crpsgd.runlog.lock import is_locked
from crpsgd.runlog.repair import needs_repair, open_for_reading, repair
from crpsgd.runlog.schema import EVAL_DEFAULTS, FORMAT, READABLE_VERSIONS, ROUND_DEFAULTS, SCHEMA
from crpsgd.runlog.validate import (
    check_attrs,
    check_column,
    check_group,
    check_summary,
    damaged,
    equal_lengths,
    plain,
)

#: A heartbeat older than this (seconds) from another host counts as a dead writer when the
#: file system cannot tell by its locks.
STALE_HEARTBEAT_S = 600.0


@dataclass
class RunRecord:
    """A run log read back: root attributes, configuration, series and result."""

    path: Path
    attrs: dict[str, Any]
    config: dict[str, Any]
    rounds: dict[str, np.ndarray]
    eval: dict[str, np.ndarray]
    x: np.ndarray | None
    summary: dict[str, Any] = field(default_factory=dict)
    outer: dict[str, np.ndarray] = field(default_factory=dict)
    result_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    #: ``{group: {column: (unit, meaning)}}`` from the file (version 2) or the schema.
    units: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    state: str = "ended"
    repaired: bool = False

    @property
    def status(self) -> str:
        return str(self.attrs.get("status", ""))

    @property
    def format_version(self) -> int:
        return int(self.attrs.get("format_version", 1))

    @property
    def last_round(self) -> int:
        """The last round with a flushed row (0 if none)."""
        r = self.rounds.get("round")
        return int(r[-1]) if r is not None and len(r) else 0

    def status_text(self) -> str:
        """The status, and for a ``running`` log whether its writer is still there."""
        if self.state == "dead":
            return f"running; ended without a status (killed?) after round {self.last_round}"
        if self.state == "live":
            beat = self.attrs.get("heartbeat")
            age = f", last flush {time.time() - beat:.0f} s ago" if _number(beat) else ""
            return f"running (live: pid {self.attrs.get('writer_pid')}{age})"
        if self.state == "unknown":
            return "running (cannot tell whether its writer is alive)"
        return self.status


def read_run(path: str | Path, repair_dead: bool = False) -> RunRecord:
    """Read a run log of any :data:`READABLE_VERSIONS`; errors name the file.

    ``repair_dead=True``: a log whose writer is gone (state ``dead``, version 2) that plain
    HDF5 readers refuse is first rewritten by :func:`crpsgd.runlog.repair.repair`; if that is
    impossible (a read-only place), it is read as it is.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such run log")
    record = _read(path)
    if (
        repair_dead
        and record.state == "dead"
        and "writer_pid" in record.attrs
        and needs_repair(path)
    ):
        try:
            repaired = repair(path)
        except (OSError, UsageError):
            repaired = False
        if repaired:
            record = _read(path)
            record.repaired = True
    return record


_OTHER_FORMATS = {
    "crpsgd-data": "it is a crpsgd data file, as `crpsgd convert` writes",
    "crpsgd-checkpoint": "it is a crpsgd checkpoint; its log is the run's --out file",
}


def _what_it_is(fmt: object) -> str:
    """Why a file with ``format`` attribute ``fmt`` is not a run log, for the error message."""
    if isinstance(fmt, bytes):
        fmt = fmt.decode(errors="replace")
    if fmt is None:
        return "format attribute missing"
    return _OTHER_FORMATS.get(str(fmt), f"format attribute is {fmt!r}, not {FORMAT!r}")


def _read(path: Path) -> RunRecord:
    try:
        f = open_for_reading(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read as HDF5 ({exc})") from None
    with f:
        try:
            return _read_open(path, f)
        except UsageError:
            raise
        except (OSError, RuntimeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            # what the checks of crpsgd.runlog.validate do not foresee: still one message
            raise damaged(path, f"{type(exc).__name__}: {exc}") from None


def _read_open(path: Path, f: h5py.File) -> RunRecord:
    """The record of the open log ``f``, checked (:mod:`crpsgd.runlog.validate`)."""
    if f.attrs.get("format") != FORMAT:
        raise UsageError(f"{path}: not a crpsgd run log ({_what_it_is(f.attrs.get('format'))})")
    attrs = {k: plain(path, k, v) for k, v in f.attrs.items()}
    version = attrs.get("format_version")
    if version not in READABLE_VERSIONS:
        raise UsageError(
            f"{path}: format_version {version} is not one this crpsgd reads "
            f"({', '.join(map(str, READABLE_VERSIONS))}); upgrade crpsgd"
        )
    config = check_attrs(path, attrs)
    running = attrs.get("status") == "running"
    series: dict[str, dict[str, np.ndarray]] = {}
    units: dict[str, dict[str, tuple[str, str]]] = {}
    for name, schema in SCHEMA.items():
        check_group(path, f, name)
        group = f[name] if name in f else {}
        columns = {c: check_column(path, f"/{name}/{c}", group[c][()]) for c in group}
        series[name] = equal_lengths(path, name, columns, running)
        units[name] = {}
        for c in series[name]:
            a = group[c].attrs
            known = schema.get(c)
            units[name][c] = (
                plain(path, f"/{name}/{c} unit", a["unit"])
                if "unit" in a
                else (known.unit if known else ""),
                plain(path, f"/{name}/{c} meaning", a["meaning"])
                if "meaning" in a
                else (known.meaning if known else ""),
            )
    n = len(series["rounds"].get("round", ()))
    for c, default in ROUND_DEFAULTS.items():  # columns older versions lack
        if c not in series["rounds"]:
            dtype = SCHEMA["rounds"][c].dtype  # int for v1's, float (NaN) for v2's
            series["rounds"][c] = np.full(n, default, dtype=dtype)
            units["rounds"][c] = (SCHEMA["rounds"][c].unit, SCHEMA["rounds"][c].meaning)
    m = len(series["eval"].get("round", ()))
    for c, default in EVAL_DEFAULTS.items():  # logs written before the column
        if c not in series["eval"]:
            series["eval"][c] = np.full(m, default, dtype=np.float64)
            units["eval"][c] = (SCHEMA["eval"][c].unit, SCHEMA["eval"][c].meaning)
    check_group(path, f, "result")
    result = f.get("result")
    x = check_column(path, "/result/x", result["x"][()]) if result and "x" in result else None
    arrays = {k: v[()] for k, v in result.items() if k != "x"} if result is not None else {}
    summary = (
        {k: plain(path, f"/result {k}", v) for k, v in result.attrs.items()}
        if result is not None
        else {}
    )
    check_summary(path, summary)
    return RunRecord(
        path,
        attrs,
        config,
        series["rounds"],
        series["eval"],
        x,
        summary,
        outer=series["outer"],
        result_arrays=arrays,
        units=units,
        state=writer_state(path, attrs),
    )


def writer_state(path: Path, attrs: dict[str, Any]) -> str:
    """``ended``, ``live``, ``dead`` or ``unknown`` (see the module docstring)."""
    if attrs.get("status") != "running":
        return "ended"
    locked = is_locked(path)
    if locked is not None:
        return "live" if locked else "dead"
    pid, host, beat = attrs.get("writer_pid"), attrs.get("writer_host"), attrs.get("heartbeat")
    if host == socket.gethostname() and isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "dead"
        except PermissionError:
            return "live"
        return "live"
    if _number(beat) and time.time() - beat > STALE_HEARTBEAT_S:
        return "dead"
    return "unknown"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
