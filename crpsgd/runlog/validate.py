"""What every reader may rely on in a run log, checked once where logs are read
(:func:`crpsgd.runlog.reader.read_run`), so that a hand-edited or damaged log is one
:class:`~crpsgd.errors.DataFormatError` naming the file and what is wrong, never a raw
exception in a table, an export or a projection.

* ``/rounds``, ``/eval``, ``/outer`` and ``/result``, where present, are groups;
* every column is a 1-D numeric dataset, and the columns of a group have one length (a log
  whose writer was killed, status ``running``, may have been cut between two columns'
  flushes: its columns are cut to the shortest instead);
* ``/result/x`` is a 1-D numeric array; the ``/result`` summary attributes are numbers;
* the root attributes are readable text or numbers; ``config`` is a JSON object;
  ``n_workers``, ``seed``, ``f_star``, ``smoothness_L``, ``step_size``, ``heartbeat`` and
  ``writer_pid``, where present, are numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from crpsgd.errors import DataFormatError

#: Root attributes that readers use as numbers.
NUMERIC_ATTRS = (
    "n_workers",
    "seed",
    "f_star",
    "smoothness_L",
    "step_size",
    "heartbeat",
    "writer_pid",
)


def damaged(path: Path, what: str) -> DataFormatError:
    """``PATH: damaged run log: WHAT``."""
    return DataFormatError(path, None, f"damaged run log: {what}")


def check_group(path: Path, f: h5py.File, name: str) -> None:
    """``/name``, when present, is a group."""
    if name in f and not isinstance(f[name], h5py.Group):
        raise damaged(path, f"/{name} is not a group")


def check_column(path: Path, name: str, value: np.ndarray) -> np.ndarray:
    """A column ``/group/col`` (``name``) is 1-D and numeric; returns it."""
    value = np.asarray(value)
    if value.ndim != 1:
        raise damaged(path, f"{name} has shape {value.shape}, not one value per row")
    if value.dtype.kind not in "biuf":
        raise damaged(path, f"{name} holds {value.dtype} values, not numbers")
    return value


def equal_lengths(
    path: Path, group: str, columns: dict[str, np.ndarray], running: bool
) -> dict[str, np.ndarray]:
    """The columns of ``group`` with one length: an ended log's must agree; a running log's
    (its writer may have been killed between two columns) are cut to the shortest."""
    if not columns:
        return columns
    lengths = {name: len(value) for name, value in columns.items()}
    shortest = min(lengths.values())
    if shortest == max(lengths.values()):
        return columns
    if running:
        return {name: value[:shortest] for name, value in columns.items()}
    first = "round" if "round" in lengths else next(iter(lengths))
    other = next(n for n, k in lengths.items() if k != lengths[first])
    raise damaged(
        path,
        f"/{group}/{other} has {lengths[other]} rows, /{group}/{first} has {lengths[first]}",
    )


def plain(path: Path, where: str, value: Any) -> Any:
    """An attribute's value as Python text, number or list; undecodable bytes are an error."""
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise damaged(path, f"attribute {where} is not UTF-8 text") from None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def check_attrs(path: Path, attrs: dict[str, Any]) -> dict[str, Any]:
    """The root attributes' types (module docstring); returns the parsed ``config``."""
    for key in NUMERIC_ATTRS:
        value = attrs.get(key)
        if value is not None and not _is_number(value):
            raise damaged(path, f"root attribute {key} is {value!r}, not a number")
    text = attrs.get("config") or "{}"
    try:
        config = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise damaged(path, f"root attribute config is not JSON ({exc})") from None
    if not isinstance(config, dict):
        raise damaged(path, "root attribute config is not a JSON object")
    return config


#: ``/result`` attributes that readers use as numbers (the schema's list).
SUMMARY_NUMBERS = (
    "rounds",
    "sfo_per_worker",
    "sfo_total",
    "objective",
    "grad_norm_sq",
    "suboptimality",
    "test_accuracy",
    "test_loss",
    "wall_s",
    "compute_s",
    "comm_s",
    "eval_s",
    "comm_bytes",
    "eval_collectives",
)


def check_summary(path: Path, summary: dict[str, Any]) -> None:
    """The ``/result`` attributes of :data:`SUMMARY_NUMBERS` are numbers."""
    for key in SUMMARY_NUMBERS:
        value = summary.get(key)
        if value is not None and not _is_number(value):
            raise damaged(path, f"/result attribute {key} is {value!r}, not a number")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
