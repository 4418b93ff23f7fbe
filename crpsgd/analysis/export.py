"""``crpsgd export RUN.h5 --to csv|json DIR``: a run log as plain files pandas reads directly.

Written into ``DIR`` (created if need be; existing files replaced only with ``--overwrite``,
all files renamed into place at the end):

* ``rounds.<ext>``, ``eval.<ext>``, ``outer.<ext>``: one row per row of the log's series,
  one column per dataset (``outer`` has only a header when the run has no outer loop);
* ``result.<ext>``: the returned iterate, columns ``index``, ``x`` and any other
  ``/result`` array of the same length (``y_best``);
* ``attributes.<ext>``: the root attributes, the ``/result`` attributes (as
  ``result.<name>``) and each column's unit and meaning (as ``unit.<group>.<column>``,
  ``meaning.<group>.<column>``).

CSV: a header line, then one line per row; integers as integers, floats in their shortest
repr (so they read back bit for bit), NaN as ``nan``; ``attributes.csv`` has the columns
``name,value`` with arrays written as JSON. ``pandas.read_csv(path)`` reads every file.
JSON: ``[{"column": value, ...}, ...]`` (records), NaN and infinities as ``null``;
``attributes.json`` is one object. ``pandas.read_json(path)`` reads the series,
``pandas.read_json(path, typ="series")`` the attributes.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from crpsgd.errors import UsageError
from crpsgd.files.atomic_write import AtomicFiles
from crpsgd.runlog import RunRecord

FORMATS = ("csv", "json")


def tables(run: RunRecord) -> dict[str, dict[str, np.ndarray]]:
    """The column tables written by :func:`export`, by file stem."""
    out = {"rounds": run.rounds, "eval": run.eval, "outer": run.outer}
    result: dict[str, np.ndarray] = {}
    if run.x is not None:
        result = {"index": np.arange(len(run.x)), "x": np.asarray(run.x)}
        for name, value in run.result_arrays.items():
            value = np.asarray(value)
            if value.ndim == 1 and len(value) == len(run.x):
                result[name] = value
    out["result"] = result
    return out


def attributes(run: RunRecord) -> dict[str, Any]:
    """Root attributes, ``result.<name>`` summary values and ``unit./meaning.`` entries."""
    attrs: dict[str, Any] = dict(run.attrs)
    attrs.update({f"result.{k}": v for k, v in run.summary.items()})
    for group, columns in run.units.items():
        for name, (unit, meaning) in columns.items():
            attrs[f"unit.{group}.{name}"] = unit
            attrs[f"meaning.{group}.{name}"] = meaning
    return attrs


def export(run: RunRecord, fmt: str, directory: str | Path, overwrite: bool = False) -> list[Path]:
    """Write the files of the module docstring; returns their paths.

    ``directory`` is created when missing. An existing file of the export is refused, naming
    it, unless ``overwrite``; every file is written to a temporary name and all are renamed
    at the end (:mod:`crpsgd.files.atomic_write`), so a full disk leaves no partial file.
    """
    if fmt not in FORMATS:
        raise UsageError(f"--to={fmt}: must be one of {', '.join(FORMATS)}")
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory}: exists and is not a directory")
    targets = [directory / f"{stem}.{fmt}" for stem in (*tables(run), "attributes")]
    existing = [str(p) for p in targets if os.path.lexists(p)]
    if existing and not overwrite:
        raise UsageError(
            f"{directory}: would replace {', '.join(existing)} (pass --overwrite to replace them)"
        )
    with AtomicFiles() as files:
        for stem, columns in tables(run).items():
            path = directory / f"{stem}.{fmt}"
            (_write_csv if fmt == "csv" else _write_json)(files.temp(path, str(path)), columns)
        path = directory / f"attributes.{fmt}"
        _write_attributes(files.temp(path, str(path)), fmt, attributes(run))
    return targets


def _write_attributes(path: Path, fmt: str, attrs: dict[str, Any]) -> None:
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["name", "value"])
            for key, value in attrs.items():
                w.writerow([key, _csv_attr(value)])
    else:
        path.write_text(json.dumps({k: _json(v) for k, v in attrs.items()}, indent=1) + "\n")


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))  # 'nan', 'inf', or the shortest exact decimal
    return str(int(value)) if isinstance(value, (int, np.integer)) else str(value)


def _write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    names = list(columns)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(names)
        for row in zip(*(columns[n].tolist() for n in names), strict=True):
            w.writerow([_cell(v) for v in row])


def _json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def _write_json(path: Path, columns: dict[str, np.ndarray]) -> None:
    names = list(columns)
    rows = [
        {n: _json(v) for n, v in zip(names, row, strict=True)}
        for row in zip(*(columns[n].tolist() for n in names), strict=True)
    ]
    path.write_text(json.dumps(rows) + "\n", encoding="utf-8")


def _csv_attr(value: Any) -> str:
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)
