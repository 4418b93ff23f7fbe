"""One entry point from a ``--data`` source to this rank's shard of rows.

The reader is the one the data-source registry names (:mod:`crpsgd.data.sources`; the
built-in ones in :mod:`crpsgd.data.builtin_sources`):

- ``synthetic[:key=value,...]``: generated rows (:mod:`crpsgd.data.synthetic`); each rank
  generates only its own rows.
- an HDF5 file in the crpsgd data format (:mod:`crpsgd.data.h5data`), recognised by the
  extension ``.h5`` / ``.hdf5`` or by the HDF5 signature; each rank reads only its own rows.
- anything else: a LIBSVM text file (:mod:`crpsgd.data.libsvm`). Text cannot be split by
  rows without reading it, so every rank parses the whole file and keeps a copy of its
  slice. For data sets that do not fit one node's memory many times over, run
  ``crpsgd convert IN.svm OUT.h5`` once and pass the HDF5 file instead.

Rank ``r`` of ``N`` gets the rows ``shard_bounds(n, r, N)`` (contiguous, lengths differing by at
most one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crpsgd.data.dataset import Dataset
from crpsgd.data.dense import csr_to_dense
from crpsgd.data.file_bytes import file_sha256
from crpsgd.data.sources import rows_source, source_of
from crpsgd.errors import UsageError

__all__ = [
    "source_kind",
    "load_shard",
    "load_test_shard",
    "describe_source",
    "data_identity",
    "file_sha256",
    "same_source",
]


def source_kind(source: str) -> str:
    """The registered kind of ``source``: ``"synthetic"``, ``"cifar10"``, ``"hdf5"`` (by
    extension or HDF5 signature) or ``"libsvm"``."""
    return source_of(source).kind


def _fit_width(ds: Dataset, n_features: int | None, source: str) -> Dataset:
    """``ds`` with ``n_features`` columns: wider pads with zero columns, narrower is an error."""
    if n_features is None or n_features == ds.n_features:
        return ds
    if n_features < ds.n_features:
        raise UsageError(f"n_features={n_features}: {source} has {ds.n_features} features")
    if ds.is_sparse:
        return Dataset(ds.y, n_features, indptr=ds.indptr, indices=ds.indices, data=ds.data)
    dense = np.zeros((ds.n_rows, n_features))
    dense[:, : ds.n_features] = ds.dense
    return Dataset(ds.y, n_features, dense=dense)


def load_shard(
    source: str,
    rank: int,
    size: int,
    n_features: int | None = None,
    dense: bool | None = None,
) -> tuple[Dataset, int]:
    """This rank's rows of ``source`` and the total row count ``n``.

    Parameters
    ----------
    source
        ``synthetic:...``, an HDF5 data file or a LIBSVM file (see the module docstring).
    rank, size
        This rank's number and the number of ranks ``N``; the shard is
        ``shard_bounds(n, rank, size)``.
    n_features
        Width ``d``. LIBSVM: passed to the reader (must be >= every index; ``None`` infers
        it). HDF5 / synthetic: ``None`` or at least the stored width (wider pads with zero
        columns; narrower is a :class:`UsageError`).
    dense
        ``True``: return a dense matrix even for sparse data. ``False`` / ``None``: keep the
        source's layout (LIBSVM -> CSR, HDF5 -> as stored, synthetic -> dense iff
        ``density == 1``).

    Raises :class:`UsageError` when ``size`` exceeds the row count (``"N ranks but only n rows
    in <source>"``) and :class:`DataFormatError` for unreadable data.
    """
    ds, n = rows_source(source).load_rows(source, rank, size, n_features)
    ds = _fit_width(ds, n_features, source)
    if dense:
        ds = csr_to_dense(ds)
    return ds, n


def load_test_shard(
    source: str,
    rank: int,
    size: int,
    train_width: int,
    n_features: int | None = None,
    dense: bool | None = None,
    flag: str = "--test-data",
) -> tuple[Dataset, int]:
    """This rank's rows of the test set ``source``, at the training width ``train_width``.

    A LIBSVM text file has no width of its own (a test file need not use the last
    features), so it is read at ``n_features`` or the training width. A file that stores its
    width (crpsgd HDF5, synthetic) must have the training width unless ``--n-features`` was
    given (``n_features``, which then applies to both sets); otherwise it is refused with a
    :class:`UsageError` naming the flag that fixes it, since padding it silently would hide
    a conversion done without ``--n-features``.
    """
    width = n_features if n_features is not None else train_width
    reader = rows_source(source, flag)
    if reader.stores_width and n_features is None:
        stored = describe_source(source)[1]
        if stored != train_width:
            fix = (
                f"convert it again with --n-features {train_width}"
                if reader.kind == "hdf5"
                else "give the same d"
            )
            raise UsageError(
                f"{flag}={source}: {stored} features but the training data has {train_width} "
                f"({fix}, or pass --n-features to set the width of both)"
            )
    ds, n = load_shard(source, rank, size, width, dense)
    if ds.n_features != train_width:
        raise UsageError(
            f"{flag}={source}: {ds.n_features} features but the training data has "
            f"{train_width} (pass --n-features to fix the width)"
        )
    return ds, n


def describe_source(source: str, n_features: int | None = None) -> tuple[int, int]:
    """``(n_rows, n_features)`` of ``source`` as :func:`load_shard` would see it.

    Cheap for synthetic specs and HDF5 files (attributes only); a LIBSVM file is parsed.
    """
    n, d = rows_source(source).describe_rows(source, n_features)
    if n_features is not None:
        if n_features < d:
            raise UsageError(f"n_features={n_features}: {source} has {d} features")
        d = n_features
    return n, d


def data_identity(source: str) -> dict[str, Any]:
    """What the run log records about a data source.

    ``{"path", "sha256", "kind"}``: ``path`` is the source as given (for synthetic: the
    canonical spec string), ``sha256`` the hex digest of the file's bytes (for synthetic: of
    the canonical spec string, UTF-8), ``kind`` one of ``"libsvm"``, ``"hdf5"``,
    ``"synthetic"``, ``"python"`` (an object of :mod:`crpsgd.data.in_process`); ``cifar10:DIR``
    is ``"cifar10"`` and adds ``"note"``
    (:func:`crpsgd.data.cifar10.cifar10_identity`).
    """
    return source_of(source).identity(source)


def same_source(a: str, b: str) -> bool:
    """Whether two ``--data`` values name the same data however spelled: one file or folder
    (``cifar10:./digits`` and ``cifar10:digits``, links), or one synthetic spec."""
    if a == b:
        return True
    first, second = source_of(a), source_of(b)
    if first.names_a_file and second.names_a_file:
        from crpsgd.files.paths import same_file

        return same_file(a, b)
    return first is second and first.same is not None and first.same(a, b)
