"""crpsgd HDF5 data files: one binary-classification data set, readable by row ranges.

Schema (``format = "crpsgd-data"``, ``format_version = 1``)::

    /                  root attributes
        format             "crpsgd-data"
        format_version     1 (readers refuse larger versions)
        layout             "dense" or "csr"
        n_rows             number of samples n (int64)
        n_features         number of features d (int64)
        source             optional: where the data came from (e.g. the LIBSVM file name)
        source_sha256      optional: sha256 (hex) of that source file
    /y                 float64 (n,)       labels in {-1, +1}
    layout "dense":
    /X                 float64 (n, d)     row-major features
    layout "csr":
    /indptr            int64 (n + 1,)     row i is entries indptr[i] .. indptr[i+1]-1;
                                          indptr[0] = 0, indptr[n] = nnz
    /indices           int32 (nnz,)       0-based column numbers, increasing within a row
    /data              float64 (nnz,)     the values

Datasets are stored contiguously (no chunking, no compression), so a row range is one
hyperslab read: :func:`read_h5_rows` reads ``X[start:stop]``, or ``indptr[start:stop+1]`` and
then ``indices``/``data`` between its first and last entry, rebased to start at 0. A rank
therefore reads only its own rows (``crpsgd convert`` turns a LIBSVM file into this format).

All problems with a file raise :class:`~crpsgd.errors.DataFormatError` naming it (line
``None``): missing file, not HDF5, wrong ``format`` attribute, missing dataset, inconsistent
shapes, and, for the rows actually read, labels outside ``{-1, +1}`` or columns out of range.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np

from crpsgd.data.dataset import Dataset
from crpsgd.errors import DataFormatError, UsageError

__all__ = ["FORMAT", "FORMAT_VERSION", "write_h5_dataset", "read_h5_info", "read_h5_rows"]

FORMAT = "crpsgd-data"
FORMAT_VERSION = 1


def write_h5_dataset(
    ds: Dataset,
    path: str | os.PathLike,
    source: str | None = None,
    *,
    source_sha256: str | None = None,
) -> None:
    """Write ``ds`` to a new HDF5 file at ``path`` (replacing any file there).

    The layout follows ``ds`` (dense or CSR); ``source`` and ``source_sha256`` become the
    optional root attributes of the same names. See the module docstring for the schema.
    """
    with h5py.File(path, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = np.int64(FORMAT_VERSION)
        f.attrs["layout"] = "csr" if ds.is_sparse else "dense"
        f.attrs["n_rows"] = np.int64(ds.n_rows)
        f.attrs["n_features"] = np.int64(ds.n_features)
        if source is not None:
            f.attrs["source"] = str(source)
        if source_sha256 is not None:
            f.attrs["source_sha256"] = str(source_sha256)
        f.create_dataset("y", data=np.asarray(ds.y, np.float64))
        if ds.is_sparse:
            lo, hi = int(ds.indptr[0]), int(ds.indptr[-1])
            f.create_dataset("indptr", data=np.asarray(ds.indptr - lo, np.int64))
            f.create_dataset("indices", data=np.asarray(ds.indices[lo:hi], np.int32))
            f.create_dataset("data", data=np.asarray(ds.data[lo:hi], np.float64))
        else:
            f.create_dataset("X", data=np.ascontiguousarray(ds.dense, np.float64))


def _open(path: str | os.PathLike) -> h5py.File:
    name = str(path)
    if not os.path.exists(name):
        raise DataFormatError(name, None, "no such file")
    if os.path.isdir(name):
        raise DataFormatError(name, None, "is a directory, not a data file")
    try:
        ok = h5py.is_hdf5(name)
    except OSError as e:  # pragma: no cover - unreadable file
        raise DataFormatError(name, None, f"cannot read: {e}") from None
    if not ok:
        raise DataFormatError(name, None, "not an HDF5 file")
    try:
        return h5py.File(name, "r")
    except OSError as e:
        raise DataFormatError(name, None, f"cannot open as HDF5: {e}") from None


def _attr(f: h5py.File, key: str) -> Any:
    value = f.attrs.get(key)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value


def _dataset(f: h5py.File, name: str, key: str, ndim: int, kind: str) -> h5py.Dataset:
    obj = f.get(key)
    if not isinstance(obj, h5py.Dataset):
        raise DataFormatError(name, None, f"missing dataset '{key}'")
    if len(obj.shape) != ndim:
        raise DataFormatError(name, None, f"dataset '{key}' has shape {obj.shape}, not {ndim}-D")
    if obj.dtype.kind not in kind:
        raise DataFormatError(name, None, f"dataset '{key}' has dtype {obj.dtype}")
    return obj


def _info(f: h5py.File, name: str) -> dict[str, Any]:
    """Check the attributes and dataset shapes; return the info dict."""
    fmt = _attr(f, "format")
    if not isinstance(fmt, str) or fmt != FORMAT:
        raise DataFormatError(
            name, None, f"not a crpsgd data file (format attribute is {fmt!r}, not {FORMAT!r})"
        )
    version = _attr(f, "format_version")
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise DataFormatError(name, None, f"bad format_version {version!r}") from None
    if version > FORMAT_VERSION or version < 1:
        raise DataFormatError(
            name, None, f"format_version {version} is not supported (this reader: 1)"
        )
    layout = _attr(f, "layout")
    if not isinstance(layout, str) or layout not in ("dense", "csr"):
        raise DataFormatError(name, None, f"layout attribute is {layout!r}, not 'dense' or 'csr'")
    try:
        n_rows = int(_attr(f, "n_rows"))
        n_features = int(_attr(f, "n_features"))
    except (TypeError, ValueError):
        raise DataFormatError(name, None, "missing or bad n_rows / n_features attribute") from None
    if n_rows < 1 or n_features < 1:
        raise DataFormatError(name, None, f"no data: n_rows={n_rows}, n_features={n_features}")
    y = _dataset(f, name, "y", 1, "f")
    if y.shape[0] != n_rows:
        raise DataFormatError(name, None, f"y has {y.shape[0]} entries but n_rows={n_rows}")
    info: dict[str, Any] = {"n_rows": n_rows, "n_features": n_features, "layout": layout}
    if layout == "dense":
        X = _dataset(f, name, "X", 2, "f")
        if X.shape != (n_rows, n_features):
            raise DataFormatError(
                name, None, f"X has shape {X.shape}, expected ({n_rows}, {n_features})"
            )
        info["nnz"] = n_rows * n_features
    else:
        indptr = _dataset(f, name, "indptr", 1, "iu")
        indices = _dataset(f, name, "indices", 1, "iu")
        data = _dataset(f, name, "data", 1, "f")
        if indptr.shape[0] != n_rows + 1:
            raise DataFormatError(
                name, None, f"indptr has {indptr.shape[0]} entries, expected n_rows + 1"
            )
        first, last = int(indptr[0]), int(indptr[-1])
        if first != 0 or last != indices.shape[0] or last != data.shape[0]:
            raise DataFormatError(
                name,
                None,
                f"inconsistent CSR: indptr runs {first}..{last} but indices has "
                f"{indices.shape[0]} and data {data.shape[0]} entries",
            )
        info["nnz"] = last
    source = _attr(f, "source")
    if source is not None:
        info["source"] = str(source)
    return info


def read_h5_info(path: str | os.PathLike) -> dict[str, Any]:
    """Check a crpsgd HDF5 data file and return its shape without reading the data.

    Returns ``{"n_rows", "n_features", "layout", "nnz"}`` plus ``"source"`` when stored.
    Raises :class:`DataFormatError` (naming the file) for anything that does not fit the
    schema.
    """
    name = str(path)
    with _reading(name), _open(name) as f:
        return _info(f, name)


@contextlib.contextmanager
def _reading(name: str) -> Iterator[None]:
    """Turn low-level errors of a damaged file into one :class:`DataFormatError`."""
    try:
        yield
    except UsageError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
        raise DataFormatError(name, None, f"cannot read: {e}") from None


def read_h5_rows(path: str | os.PathLike, start: int, stop: int) -> Dataset:
    """Rows ``[start, stop)`` of a crpsgd HDF5 data file, reading only those rows.

    The layout of the file is kept (CSR re-based so ``indptr[0] == 0``). Raises
    :class:`UsageError` for a bad range and :class:`DataFormatError` for a bad file or for
    read rows with labels outside ``{-1, +1}``, columns out of range or a decreasing indptr.
    """
    name = str(path)
    with _reading(name), _open(name) as f:
        info = _info(f, name)
        n, d = info["n_rows"], info["n_features"]
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= n:
            raise UsageError(f"rows [{start}, {stop}) are not within the {n} rows of {name}")
        y = np.asarray(f["y"][start:stop], np.float64)
        if not np.all((y == 1.0) | (y == -1.0)):
            bad = start + int(np.flatnonzero((y != 1.0) & (y != -1.0))[0])
            raise DataFormatError(name, None, f"label y[{bad}] = {y[bad - start]} is not -1 or +1")
        if info["layout"] == "dense":
            X = np.ascontiguousarray(f["X"][start:stop], np.float64)
            _check_finite(X, name, start, stop)
            return Dataset(y, d, dense=X)
        indptr = np.asarray(f["indptr"][start : stop + 1], np.int64)
        lo, hi = int(indptr[0]), int(indptr[-1])
        if np.any(np.diff(indptr) < 0) or lo < 0 or hi > info["nnz"]:
            raise DataFormatError(name, None, f"bad indptr within rows [{start}, {stop})")
        raw = f["indices"][lo:hi]
        data = np.asarray(f["data"][lo:hi], np.float64)
    if raw.size and (int(raw.min()) < 0 or int(raw.max()) >= d):
        raise DataFormatError(
            name, None, f"column index out of range 0..{d - 1} within rows [{start}, {stop})"
        )
    _check_finite(data, name, start, stop)
    indices = np.asarray(raw, np.int32)
    return Dataset(y, d, indptr=indptr - lo, indices=indices, data=data)


def _check_finite(values: np.ndarray, name: str, start: int, stop: int) -> None:
    if not np.isfinite(values).all():
        raise DataFormatError(name, None, f"non-finite feature value within rows [{start}, {stop})")
