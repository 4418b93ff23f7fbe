"""Checkpoint files: everything a run needs to continue, written atomically by rank 0.

Schema (``format = "crpsgd-checkpoint"``, ``format_version = 1``)::

    /                 root attributes
        crpsgd_version, created      writer and time (ISO 8601, UTC)
        config                       JSON: the run's merged configuration
        n_workers                    N; a checkpoint resumes only with the same N
        algorithm                    as in the run log
        log_path                     the run log that the resumed run appends to
        run_id                       the ``run_id`` root attribute of that log (which run
                                     the checkpoint belongs to; "" in older files)
        inputs                       JSON: ``{"data": {"path", "sha256"}, "test_data": ...}``
                                     the data the run read ({} in older files)
        rounds, sfo_per_worker       counters after the last completed round
        state                        JSON: the loop's scalar state (evaluation schedule,
                                     wall-clock offset, outer iteration of Catalyst, an
                                     observing batch schedule's ``schedule`` state, ...)
        rng_states                   JSON list: every rank's bit-generator state, rank order
    /arrays/<name>    float64 arrays of the loop's state: ``x`` (the iterate), and e.g.
                      ``y_prev`` (Catalyst's prox centre) or ``local_models`` (Local SGD);
                      ``<name>@rank<r>``: rank ``r``'s own (``Problem.state_arrays``)

The file is written to a new temporary file beside ``<path>`` (``.<name>.XXXXXXXX.tmp``,
:mod:`crpsgd.files.atomic_write`) and renamed over ``<path>``, so a job killed while writing
leaves the previous checkpoint intact. A write that fails (full disk, quota, I/O
error) removes the temporary file and raises one :class:`~crpsgd.errors.OutputError`
naming ``--checkpoint``; a file that cannot be read back (missing, not a regular file,
truncated, foreign, damaged) is one :class:`~crpsgd.errors.DataFormatError` naming it.
"""

from __future__ import annotations

import json
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from crpsgd import __version__
from crpsgd.errors import DataFormatError
from crpsgd.files.atomic_write import AtomicFiles
from crpsgd.files.hdf5_open import refuse_truncated

FORMAT = "crpsgd-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """The state of a run after round ``rounds``; see the module docstring."""

    config: dict[str, Any]
    n_workers: int
    algorithm: str
    log_path: str
    rounds: int
    sfo_per_worker: int
    rng_states: list[dict[str, Any]]
    arrays: dict[str, np.ndarray]
    state: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)


def checkpoint_path_for(log_path: str | Path) -> Path:
    """The default checkpoint beside a log: ``runs/a.h5`` -> ``runs/a.ckpt.h5``."""
    log_path = Path(log_path)
    return log_path.with_name(log_path.stem + ".ckpt.h5")


def write_checkpoint(path: str | Path, ckpt: Checkpoint) -> None:
    """Write ``ckpt`` to ``path`` atomically (:mod:`crpsgd.files.atomic_write`: a new temporary
    file beside it, fsync, rename)."""
    from crpsgd.files.outputs import output_error

    path = Path(path)
    image = _image(ckpt)
    try:
        with AtomicFiles(usage_errors=False) as files:
            files.temp(path, f"--checkpoint={path}").write_bytes(image)
    except Exception as exc:
        raise output_error("--checkpoint", path, "checkpoint", exc) from None


def _image(ckpt: Checkpoint) -> bytes:
    """The checkpoint as the bytes of an HDF5 file, built in memory: HDF5 never writes to
    the disk itself (a full disk when HDF5 closes a file can crash the process), and the
    plain file write that follows fails with a clean ``OSError`` instead."""
    name = f"crpsgd-checkpoint-{os.getpid()}-{id(ckpt)}"
    with h5py.File(name, "w", driver="core", backing_store=False) as f:
        a = f.attrs
        a["format"] = FORMAT
        a["format_version"] = FORMAT_VERSION
        a["crpsgd_version"] = __version__
        a["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        a["config"] = json.dumps(ckpt.config, sort_keys=True)
        a["n_workers"] = ckpt.n_workers
        a["algorithm"] = ckpt.algorithm
        a["log_path"] = ckpt.log_path
        a["run_id"] = ckpt.run_id
        a["inputs"] = json.dumps(ckpt.inputs, sort_keys=True)
        a["rounds"] = ckpt.rounds
        a["sfo_per_worker"] = ckpt.sfo_per_worker
        a["state"] = json.dumps(ckpt.state, sort_keys=True)
        a["rng_states"] = json.dumps(ckpt.rng_states)
        group = f.create_group("arrays")
        for key, value in ckpt.arrays.items():
            group.create_dataset(key, data=np.asarray(value, dtype=np.float64))
        f.flush()
        return f.id.get_file_image()


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint; a missing, foreign, truncated or damaged file is one error
    naming it."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise DataFormatError(path, None, "no such checkpoint") from None
    if not stat.S_ISREG(mode):
        raise DataFormatError(path, None, "not a regular file, not a checkpoint")
    refuse_truncated(path, "checkpoint")
    try:
        with h5py.File(path, "r", locking=False) as f:
            a = f.attrs
            if a.get("format") != FORMAT:
                raise DataFormatError(path, None, "not a crpsgd checkpoint")
            if int(a["format_version"]) != FORMAT_VERSION:
                raise DataFormatError(path, None, f"checkpoint version {a['format_version']}")
            return Checkpoint(
                config=json.loads(a["config"]),
                n_workers=int(a["n_workers"]),
                algorithm=str(a["algorithm"]),
                log_path=str(a["log_path"]),
                rounds=int(a["rounds"]),
                sfo_per_worker=int(a["sfo_per_worker"]),
                rng_states=json.loads(a["rng_states"]),
                arrays={name: ds[()] for name, ds in f["arrays"].items()},
                state=json.loads(a["state"]),
                run_id=str(a.get("run_id", "")),
                inputs=json.loads(a.get("inputs", "{}")),
            )
    except DataFormatError:
        raise
    except Exception as exc:
        raise DataFormatError(path, None, f"damaged checkpoint ({exc})") from None


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The bit generator's state (JSON-serialisable: Python ints of any size)."""
    return rng.bit_generator.state


def restore_rng(state: dict[str, Any]) -> np.random.Generator:
    """A generator continuing exactly where the one with ``state`` stopped."""
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)
