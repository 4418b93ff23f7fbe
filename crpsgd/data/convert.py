"""``crpsgd convert``: a LIBSVM text file to a crpsgd HDF5 data file.

The HDF5 file (schema in :mod:`crpsgd.data.h5data`) lets every MPI rank read only its own rows,
where a LIBSVM file must be parsed whole by every rank.
"""

from __future__ import annotations

import os
from typing import Any

from crpsgd.data.h5data import write_h5_dataset
from crpsgd.data.libsvm import read_libsvm
from crpsgd.data.loader import file_sha256
from crpsgd.errors import UsageError
from crpsgd.files.atomic_write import AtomicFiles, refuse_unsafe_target
from crpsgd.files.paths import check_input

__all__ = ["convert_libsvm_to_h5"]


def convert_libsvm_to_h5(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    n_features: int | None = None,
    dense: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Read the LIBSVM file ``src`` and write it to the HDF5 file ``dst``.

    ``n_features`` and ``dense`` are as in :func:`~crpsgd.data.libsvm.read_libsvm` (dense
    stores ``X``, otherwise CSR). The file is written under a temporary name next to ``dst``
    and renamed when complete, so a failure never leaves a partial ``dst``. The root
    attributes ``source`` / ``source_sha256`` record ``src`` and the sha256 of its bytes. Missing
    parent directories of ``dst`` are created, as ``crpsgd run --out`` does. A ``src`` that
    is not a regular file (``/dev/zero``, a FIFO) and a ``dst`` that is a link, a directory,
    a device or a FIFO are refused before anything is read or written
    (:mod:`crpsgd.files.atomic_write`).

    Returns ``{"rows", "features", "layout", "nnz", "path", "source_sha256"}`` (``nnz`` counts
    stored values: ``rows * features`` when dense).

    Raises :class:`UsageError` if ``dst`` exists and ``overwrite`` is false, if ``dst`` is
    ``src``, or for the files above; :class:`~crpsgd.errors.DataFormatError` for a bad ``src``.
    """
    src_name, dst_name = str(src), str(dst)
    check_input("IN", src_name)  # /dev/zero or a FIFO would be read without end
    if os.path.exists(dst_name) and os.path.exists(src_name):
        if os.path.samefile(src_name, dst_name):
            raise UsageError(f"{dst_name}: output is the input file")
    if refuse_unsafe_target(dst_name, dst_name) and not overwrite:
        raise UsageError(f"{dst_name} exists (use --overwrite to replace it)")
    with AtomicFiles() as files:
        tmp = files.temp(dst_name, dst_name)
        ds = read_libsvm(src_name, n_features=n_features, dense=dense)
        digest = file_sha256(src_name)
        write_h5_dataset(ds, tmp, source=src_name, source_sha256=digest)
    return {
        "rows": ds.n_rows,
        "features": ds.n_features,
        "layout": "csr" if ds.is_sparse else "dense",
        "nnz": ds.nnz,
        "path": dst_name,
        "source_sha256": digest,
    }
