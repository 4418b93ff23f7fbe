"""HDF5 run log: written by rank 0 only, readable while and after the run.

Schema (``format = "crpsgd-run"``, ``format_version = 1``)::

    /                      root attributes
        format, format_version     "crpsgd-run", 1
        crpsgd_version             package version that wrote the file
        algorithm                  "cr-psgd", "psgd", ...
        config                     JSON object: the full merged configuration of the run
        n_workers, seed            number of MPI ranks N, master seed
        data_path, data_kind       training data source and its kind (libsvm/hdf5/synthetic)
        data_shape, data_sha256    (n, d) and the sha256 of the file (of the spec if synthetic)
        test_*                     the same for the test set, when one is given
        mpi_library                first line of MPI_Get_library_version
        start_time, end_time       ISO 8601, UTC
        status                     "running", "completed" or "failed: <reason>"
        f_star                     optimal objective used for suboptimality (NaN if unknown)
        smoothness_L, step_size    L of the objective and the step size gamma actually used
    /rounds/<column>       one row per communication round, resizable 1-D datasets:
        round                      1-based round index t (int64), counted over the whole run
        batch                      B_t, per-worker minibatch size (int64)
        local_steps                minibatch steps each worker took since the last round
                                   (int64): 1 when the round averages gradients (cr-psgd,
                                   psgd, catalyst), H for local-sgd (fewer in a last, partial
                                   period); the round's SFO per worker is batch * local_steps
        outer                      cr-psgd-catalyst: outer iteration k >= 1 whose inner run
                                   took this round (int64); 0 for algorithms without one
        sfo_per_worker             cumulative SFO calls of one worker after this round (int64)
        sfo_total                  cumulative SFO calls of all N workers (int64)
        step_size                  gamma used in this round
        wall_s                     seconds since the start of the loop (rank 0, MPI.Wtime)
        compute_s, comm_s          seconds of this round in the gradient and in the Allreduce
    /eval/<column>         one row per evaluation point (SFO spaced geometrically + last):
        round, sfo_per_worker, sfo_total   position in the run (round 0: the initial point)
        objective                  f(x) on the whole training set
        grad_norm_sq               ||grad f(x)||^2
        suboptimality              f(x) - f_star (NaN when f_star is unknown)
        test_accuracy              fraction of the test set classified right (NaN: no test set)
        wall_s, eval_s             time since the loop's start; seconds spent in this evaluation
    /outer/<column>        cr-psgd-catalyst only (empty otherwise): one row per outer
                           iteration k, after its inner CR-PSGD run returned y_k:
        outer                      k (int64), 1-based
        round                      cumulative rounds after y_k (int64)
        sfo_per_worker, sfo_total  cumulative SFO after y_k (int64)
        evaluated                  1 if f(y_k) was evaluated, else 0 (int64); evaluation points
                                   are spaced geometrically in SFO as for /eval (--eval-factor),
                                   plus y_0 (k = 0 is not a row; it is /eval's round 0) and y_K
        objective, grad_norm_sq    f(y_k), ||grad f(y_k)||^2 when evaluated, else NaN
        wall_s                     seconds since the start of the loop (rank 0)
    /result/x              the returned iterate (float64, length d), written at the end;
                           for cr-psgd-catalyst the last outer point y_K
    /result/y_best         cr-psgd-catalyst: the evaluated y_k with the smallest
                           ||grad f||^2; root attributes best_outer (its k, 0 = y_0) and
                           best_grad_norm_sq, plus theta, outer_iterations, inner_budget
    /result attributes     rounds, sfo_per_worker, sfo_total, objective, grad_norm_sq,
                           suboptimality, test_accuracy, wall_s, compute_s, comm_s, eval_s,
                           comm_bytes, eval_collectives

Rows are kept in memory and appended in blocks, and every block is flushed to disk at once:
at the latest every ``flush_rows`` rows or ``flush_seconds`` seconds, at every evaluation
and at the end.

Crash safety: every group and dataset is created first, then the file is switched to HDF5's
single-writer/multiple-reader (SWMR) mode, in which the file on disk is consistent after
every flush. A job killed at any moment (``kill -9``, a node lost) leaves a log that opens
(:func:`read_run` falls back to a SWMR read for a file whose writer died), holds every row
flushed before the kill and still says ``status = "running"``. At the end the writer closes
the SWMR handle and reopens the file normally to write ``/result`` and the final status, so
nothing is created in SWMR mode (which HDF5 before 2.0 forbids). The file is opened without
HDF5 file locking, so ``crpsgd info`` can read a log while its run goes on.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from crpsgd.errors import UsageError

FORMAT = "crpsgd-run"
FORMAT_VERSION = 1

ROUND_COLUMNS: dict[str, type] = {
    "round": np.int64,
    "batch": np.int64,
    "sfo_per_worker": np.int64,
    "sfo_total": np.int64,
    "step_size": np.float64,
    "wall_s": np.float64,
    "compute_s": np.float64,
    "comm_s": np.float64,
    "local_steps": np.int64,
    "outer": np.int64,
}
#: Values of round columns a caller may leave out (algorithms without local steps or outer loop).
ROUND_DEFAULTS: dict[str, Any] = {"local_steps": 1, "outer": 0}
OUTER_COLUMNS: dict[str, type] = {
    "outer": np.int64,
    "round": np.int64,
    "sfo_per_worker": np.int64,
    "sfo_total": np.int64,
    "evaluated": np.int64,
    "objective": np.float64,
    "grad_norm_sq": np.float64,
    "wall_s": np.float64,
}
EVAL_COLUMNS: dict[str, type] = {
    "round": np.int64,
    "sfo_per_worker": np.int64,
    "sfo_total": np.int64,
    "objective": np.float64,
    "grad_norm_sq": np.float64,
    "suboptimality": np.float64,
    "test_accuracy": np.float64,
    "wall_s": np.float64,
    "eval_s": np.float64,
}

SERIES = {"rounds": ROUND_COLUMNS, "eval": EVAL_COLUMNS, "outer": OUTER_COLUMNS}


class _Series:
    """Columns of one group, buffered in memory and appended to resizable datasets."""

    def __init__(self, group: h5py.Group, columns: dict[str, type], existing: bool = False) -> None:
        self.columns = columns
        self.datasets = {
            name: group[name]
            if existing
            else group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dt, chunks=(1024,))
            for name, dt in columns.items()
        }
        self.pending: list[tuple] = []

    def add(self, row: dict[str, Any]) -> None:
        self.pending.append(tuple(row[name] for name in self.columns))

    def write(self) -> None:
        if not self.pending:
            return
        block = list(zip(*self.pending, strict=True))
        for (name, dt), values in zip(self.columns.items(), block, strict=True):
            ds = self.datasets[name]
            n = ds.shape[0]
            ds.resize((n + len(values),))
            ds[n:] = np.asarray(values, dtype=dt)
        self.pending.clear()


def _attr(value: Any) -> Any:
    """HDF5 attributes hold numbers, strings and arrays; None becomes an empty string."""
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return np.asarray(value)
    return value


class RunLog:
    """Writer of one run's log (rank 0). See the module docstring for the schema."""

    def __init__(
        self,
        path: str | Path,
        attrs: dict[str, Any],
        overwrite: bool = False,
        flush_rows: int = 1024,
        flush_seconds: float = 1.0,
    ) -> None:
        path = Path(path)
        if path.exists() and not overwrite:
            raise UsageError(f"--out={path}: file exists (pass --overwrite to replace it)")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.file = h5py.File(path, "w", libver="latest", locking=False)
        root = self.file.attrs
        root["format"] = FORMAT
        root["format_version"] = FORMAT_VERSION
        for key, value in attrs.items():
            root[key] = _attr(value)
        root["start_time"] = _now()
        root["status"] = "running"
        for group in SERIES:
            self.file.create_group(group)
        self.file.create_group("result")
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

        The log is rewritten into a new file that replaces the old one atomically, which also
        repairs a log whose writer was killed in SWMR mode.
        """
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"{path}: the run log of the checkpoint is missing")
        tmp = path.with_name(path.name + ".resume.tmp")
        try:
            src = _open_for_reading(path)
        except OSError as exc:
            raise UsageError(f"{path}: cannot read the run log to resume ({exc})") from None
        with src, h5py.File(tmp, "w", libver="latest", locking=False) as dst:
            for key, value in src.attrs.items():
                dst.attrs[key] = value
            for group, columns in SERIES.items():
                out = dst.create_group(group)
                if group not in src:
                    _Series(out, columns)
                    continue
                keep = src[group]["round"][()] <= keep_rounds
                for name, dt in columns.items():
                    data = src[group][name][()][keep] if name in src[group] else np.zeros(0, dt)
                    out.create_dataset(name, data=data.astype(dt), maxshape=(None,), chunks=(1024,))
            dst.create_group("result")
            resumed = list(np.atleast_1d(src.attrs.get("resumed_at_rounds", np.zeros(0, np.int64))))
            dst.attrs["resumed_at_rounds"] = np.asarray([*resumed, keep_rounds], dtype=np.int64)
            dst.attrs["status"] = "running"
        os.replace(tmp, path)
        log = cls.__new__(cls)
        log.path = path
        log.file = h5py.File(path, "r+", libver="latest", locking=False)
        log._start_writing(flush_rows, flush_seconds, existing=True)
        return log

    def _start_writing(self, flush_rows: int, flush_seconds: float, existing: bool) -> None:
        """Attach the series to their groups and switch to SWMR mode."""
        self.rounds = _Series(self.file["rounds"], ROUND_COLUMNS, existing)
        self.evals = _Series(self.file["eval"], EVAL_COLUMNS, existing)
        self.outer = _Series(self.file["outer"], OUTER_COLUMNS, existing)
        self._result_arrays: dict[str, np.ndarray] = {}
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._last_flush = time.monotonic()
        self._final_attrs: dict[str, Any] = {}
        self._lock = threading.Lock()  # the failure watch may close the log from its thread
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
        """Append one ``/rounds`` row (:data:`ROUND_COLUMNS` as keywords; those of
        :data:`ROUND_DEFAULTS` may be left out)."""
        self.rounds.add({**ROUND_DEFAULTS, **row})
        if (
            len(self.rounds.pending) >= self.flush_rows
            or time.monotonic() - self._last_flush >= self.flush_seconds
        ):
            self.flush()

    def add_eval(self, **row: Any) -> None:
        """Append one ``/eval`` row (all of :data:`EVAL_COLUMNS`) and flush everything."""
        self.evals.add(row)
        self.flush()

    def add_outer(self, **row: Any) -> None:
        """Append one ``/outer`` row (all of :data:`OUTER_COLUMNS`); flushed as round rows are."""
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
        self.file.flush()
        self._last_flush = time.monotonic()

    def finish(self, x: np.ndarray, summary: dict[str, Any]) -> None:
        """Write the returned iterate and the summary, mark the run completed and close."""
        self.close("completed", x, summary)

    def close(
        self, status: str, x: np.ndarray | None = None, summary: dict[str, Any] | None = None
    ) -> None:
        """Flush what is pending, leave SWMR mode, then write ``/result`` (when given), the
        root attributes set during the run, ``status`` and the end time, and close."""
        with self._lock:
            if self.closed:
                return
            self._flush()
            self.closed = True
            self.file.close()
            self._finalise(status, x, summary)

    def _finalise(self, status: str, x: np.ndarray | None, summary: dict[str, Any] | None) -> None:
        with h5py.File(self.path, "r+", locking=False) as f:
            if x is not None:
                f["result"].create_dataset("x", data=np.asarray(x, dtype=np.float64))
            for name, value in self._result_arrays.items():
                f["result"].create_dataset(name, data=value)
            for key, value in (summary or {}).items():
                f["result"].attrs[key] = _attr(value)
            for key, value in self._final_attrs.items():
                f.attrs[key] = _attr(value)
            f.attrs["status"] = status
            f.attrs["end_time"] = _now()


class NullRunLog:
    """What ranks other than 0 hold instead of a :class:`RunLog`: every call does nothing."""

    def set_attrs(self, **attrs: Any) -> None: ...
    def add_round(self, **row: Any) -> None: ...
    def add_eval(self, **row: Any) -> None: ...
    def add_outer(self, **row: Any) -> None: ...
    def set_result_array(self, name: str, value: np.ndarray) -> None: ...
    def flush(self) -> None: ...
    def finish(self, x: np.ndarray, summary: dict[str, Any]) -> None: ...
    def close(
        self, status: str, x: np.ndarray | None = None, summary: dict[str, Any] | None = None
    ) -> None: ...


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

    @property
    def status(self) -> str:
        return str(self.attrs.get("status", ""))


def read_run(path: str | Path) -> RunRecord:
    """Read a run log (finished, running or cut short); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such run log")
    try:
        f = _open_for_reading(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read as HDF5 ({exc})") from None
    with f:
        if f.attrs.get("format") != FORMAT:
            raise UsageError(f"{path}: not a crpsgd run log (format attribute missing)")
        attrs = {k: _plain(v) for k, v in f.attrs.items()}
        series = {
            name: {c: f[name][c][()] for c in f[name]} if name in f else {}
            for name in ("rounds", "eval", "outer")
        }
        result = f.get("result")
        x = result["x"][()] if result is not None and "x" in result else None
        arrays = {k: v[()] for k, v in result.items() if k != "x"} if result is not None else {}
        summary = {k: _plain(v) for k, v in result.attrs.items()} if result is not None else {}
    config = json.loads(attrs.get("config") or "{}")
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
    )


def _open_for_reading(path: Path) -> h5py.File:
    """Open normally; a log whose writer is running or died mid-run opens as a SWMR reader."""
    try:
        return h5py.File(path, "r", locking=False)
    except OSError:
        return h5py.File(path, "r", swmr=True, locking=False)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
