"""Rewriting a run log: the repair of a log whose writer died, and the base of a resume.

A writer killed in SWMR mode leaves the superblock's "open for writing" flags set, so plain
HDF5 readers (``h5py.File(path, "r")``, h5dump, HDFView) refuse the file until they are
cleared (HDF5's ``h5clear`` tool does that; this needs no HDF5 tools). The data are intact
and a SWMR reader gets them; :func:`repair` copies them with a SWMR reader into a new file,
closed normally, that atomically replaces the old one. The copy has the current schema
(``format_version`` 2, ``unit``/``meaning`` on every dataset, columns missing from an early
version 1 log filled with their defaults), keeps every row and attribute, and keeps
``status = "running"``: readers report such a log as "ended without a status".
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from crpsgd.errors import UsageError
from crpsgd.files.atomic_write import AtomicFiles
from crpsgd.files.hdf5_open import refuse_truncated, refuse_unreadable_swmr
from crpsgd.runlog.lock import LogLock, is_locked
from crpsgd.runlog.schema import FORMAT, FORMAT_VERSION, ROUND_DEFAULTS, SCHEMA


def open_for_reading(path: Path) -> h5py.File:
    """Open normally; a log whose writer is running or died mid-run opens as a SWMR reader.
    Refused first, with one message naming the file: a copy cut short
    (:func:`~crpsgd.files.hdf5_open.refuse_truncated`) and a killed writer's log whose metadata a
    SWMR reader cannot finish reading (:func:`~crpsgd.files.hdf5_open.refuse_unreadable_swmr`), on
    which HDF5 would retry for a very long time. A live writer's file is not checked (its
    end may be allocated before it is written)."""
    live = is_locked(path)
    if not live:
        refuse_truncated(path, "run log")
    try:
        return h5py.File(path, "r", locking=False)
    except OSError:
        if not live:  # a killed writer's log: damaged metadata would make HDF5 retry for hours
            refuse_unreadable_swmr(path, "run log")
        return h5py.File(path, "r", swmr=True, locking=False)


def needs_repair(path: Path) -> bool:
    """Whether plain HDF5 readers refuse ``path`` while a SWMR reader opens it (a copy cut
    short is refused, as by :func:`open_for_reading`)."""
    if not is_locked(path):
        refuse_truncated(path, "run log")
    try:
        with h5py.File(path, "r", locking=False):
            return False
    except OSError:
        pass
    try:
        with h5py.File(path, "r", swmr=True, locking=False):
            return True
    except OSError:
        return False


def rewrite(src_path: Path, dst_path: Path, keep_rounds: int | None = None) -> None:
    """Copy the log ``src_path`` into the new file ``dst_path`` in the current schema.

    ``keep_rounds=None`` keeps every row and ``/result``; an integer keeps the rows of rounds
    ``<= keep_rounds``, drops ``/result`` and records the resume in ``resumed_at_rounds``.
    """
    try:
        src = open_for_reading(src_path)
    except OSError as exc:
        raise UsageError(f"{src_path}: cannot read the run log ({exc})") from None
    with src, h5py.File(dst_path, "w", libver="latest", locking=False) as dst:
        if src.attrs.get("format") != FORMAT:
            raise UsageError(f"{src_path}: not a crpsgd run log (format attribute missing)")
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        dst.attrs["format_version"] = FORMAT_VERSION
        for group, columns in SCHEMA.items():
            out = dst.create_group(group)
            have = src[group] if group in src else None
            n = len(have["round"]) if have is not None and "round" in have else 0
            keep = np.ones(n, bool)
            if keep_rounds is not None and n:
                keep = have["round"][()] <= keep_rounds
            names = list(columns) + [c for c in (have or {}) if c not in columns]
            for name in names:
                col = columns.get(name)
                if have is not None and name in have:
                    data = have[name][()][keep]
                else:
                    data = np.full(int(keep.sum()), ROUND_DEFAULTS.get(name, 0))
                dtype = col.dtype if col is not None else data.dtype
                ds = out.create_dataset(
                    name, data=data.astype(dtype), maxshape=(None,), chunks=(1024,)
                )
                if have is not None and name in have:
                    for key, value in have[name].attrs.items():
                        ds.attrs[key] = value
                if col is not None:
                    ds.attrs["unit"], ds.attrs["meaning"] = col.unit, col.meaning
        result = dst.create_group("result")
        if keep_rounds is None and "result" in src:
            for name, ds in src["result"].items():
                result.create_dataset(name, data=ds[()])
            for key, value in src["result"].attrs.items():
                result.attrs[key] = value
        if keep_rounds is not None:
            old = np.atleast_1d(src.attrs.get("resumed_at_rounds", np.zeros(0, np.int64)))
            dst.attrs["resumed_at_rounds"] = np.asarray([*old, keep_rounds], dtype=np.int64)
            dst.attrs["status"] = "running"


def repair(path: str | Path) -> bool:
    """Make a log whose writer is gone readable by any HDF5 tool; returns whether it had to
    be rewritten. A log still being written by a live process is refused
    (:class:`UsageError`), as is a file that is not a crpsgd run log. A symbolic link to a
    log repairs the log it names and stays a link; the copy is written to a temporary
    name beside the log and renamed over it (:mod:`crpsgd.files.atomic_write`)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such run log")
    if not needs_repair(path):
        try:
            with h5py.File(path, "r", locking=False) as f:
                if f.attrs.get("format") != FORMAT:
                    raise UsageError(f"{path}: not a crpsgd run log (format attribute missing)")
        except OSError as exc:
            raise UsageError(f"{path}: cannot read as HDF5 ({exc})") from None
        return False
    from crpsgd.runlog.lock import take_lock

    real = Path(os.path.realpath(path))  # a link to a log: the log it names is repaired
    try:
        old = take_lock(real, f"{path}", "nothing to repair while it runs")
    except OSError as exc:
        raise UsageError(f"{path}: cannot repair: {exc.strerror or exc}") from None
    try:
        new = None
        with AtomicFiles(usage_errors=False) as files:
            tmp = files.temp(real, f"{path}")
            new = LogLock.acquire(tmp, create=False)
            try:
                rewrite(real, tmp)
            except OSError as exc:
                raise UsageError(f"{path}: cannot repair: {exc}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot repair: {exc}") from None
    finally:
        if new is not None:
            new.release()
        old.release()
    return True
