"""The built-in data sources, one declaration each (registered on import; see
:mod:`crpsgd.data.sources`): ``synthetic[:key=value,...]``, ``cifar10:DIR``, crpsgd HDF5
files (by extension or signature) and, for anything else, LIBSVM text."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import h5py

from crpsgd.data import in_process
from crpsgd.data.cifar10 import cifar10_identity, is_cifar10_source, source_folder
from crpsgd.data.dataset import Dataset
from crpsgd.data.file_bytes import file_sha256
from crpsgd.data.h5data import read_h5_info, read_h5_rows
from crpsgd.data.images import cifar10_shards
from crpsgd.data.libsvm import read_libsvm
from crpsgd.data.shard import check_ranks, copy_rows, shard_bounds
from crpsgd.data.sources import DataSource, register_source
from crpsgd.data.synthetic import is_synthetic, parse_synthetic_spec, synthetic_rows
from crpsgd.files.paths import same_file

HDF5_SUFFIXES = (".h5", ".hdf5")


def _file_identity(kind: str) -> Any:
    return lambda source: {"path": str(source), "sha256": file_sha256(source), "kind": kind}


def _synthetic_identity(source: str) -> dict[str, Any]:
    canonical = parse_synthetic_spec(source).to_string()
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return {"path": canonical, "sha256": digest, "kind": "synthetic"}


def _same_synthetic(a: str, b: str) -> bool:
    try:
        return parse_synthetic_spec(a).to_string() == parse_synthetic_spec(b).to_string()
    except ValueError:
        return False


def _synthetic_rows(source: str, rank: int, size: int, _: int | None) -> tuple[Dataset, int]:
    spec = parse_synthetic_spec(source)
    check_ranks(spec.n, size, source)
    return synthetic_rows(spec, *shard_bounds(spec.n, rank, size)), spec.n


def _synthetic_shape(source: str, _: int | None) -> tuple[int, int]:
    spec = parse_synthetic_spec(source)
    return spec.n, spec.d


def _is_hdf5(source: str) -> bool:
    if os.path.splitext(source)[1].lower() in HDF5_SUFFIXES:
        return True
    try:
        return os.path.isfile(source) and h5py.is_hdf5(source)
    except (OSError, ValueError):
        return False


def _hdf5_rows(source: str, rank: int, size: int, _: int | None) -> tuple[Dataset, int]:
    n = read_h5_info(source)["n_rows"]
    check_ranks(n, size, source)
    return read_h5_rows(source, *shard_bounds(n, rank, size)), n


def _hdf5_shape(source: str, _: int | None) -> tuple[int, int]:
    info = read_h5_info(source)
    return info["n_rows"], info["n_features"]


def _libsvm_rows(source: str, rank: int, size: int, d: int | None) -> tuple[Dataset, int]:
    full = read_libsvm(source, n_features=d)
    check_ranks(full.n_rows, size, source)
    return copy_rows(full, *shard_bounds(full.n_rows, rank, size)), full.n_rows


def _libsvm_shape(source: str, d: int | None) -> tuple[int, int]:
    ds = read_libsvm(source, n_features=d)
    return ds.n_rows, ds.n_features


def _held_shards(source: str, rank: int, size: int, test: str | None) -> tuple[Any, Any]:
    """This rank's shards of objects held for :func:`crpsgd.torch.train` (``.shard()``)."""
    return (
        in_process.lookup(source).shard(rank, size),
        in_process.lookup(test).shard(rank, size) if test is not None else None,
    )


register_source(
    DataSource(
        "python",
        "python:LABEL#K: a Dataset or (X, y) passed to crpsgd.torch.train in this process",
        claims=in_process.is_in_process,
        identity=in_process.identity,
        names_a_file=False,
        same=lambda a, b: a == b,
        layout="objects",
        load_shards=_held_shards,
    )
)
register_source(
    DataSource(
        "synthetic",
        "synthetic[:key=value,...]: generated rows, each rank generating its own",
        claims=is_synthetic,
        identity=_synthetic_identity,
        names_a_file=False,
        same=_same_synthetic,
        load_rows=_synthetic_rows,
        describe_rows=_synthetic_shape,
    )
)
register_source(
    DataSource(
        "cifar10",
        "cifar10:DIR: CIFAR-10's binary files in DIR (images, --problem torch)",
        claims=is_cifar10_source,
        identity=cifar10_identity,
        names_a_file=False,
        same=lambda a, b: same_file(source_folder(a), source_folder(b)),
        layout="images",
        load_shards=cifar10_shards,
    )
)
register_source(
    DataSource(
        "hdf5",
        "FILE.h5: crpsgd's HDF5 data format (by extension or signature), read by row shards",
        claims=_is_hdf5,
        identity=_file_identity("hdf5"),
        load_rows=_hdf5_rows,
        describe_rows=_hdf5_shape,
    )
)
register_source(
    DataSource(
        "libsvm",
        "FILE: LIBSVM text (every rank parses the file and keeps its slice)",
        claims=lambda source: True,
        identity=_file_identity("libsvm"),
        load_rows=_libsvm_rows,
        describe_rows=_libsvm_shape,
        stores_width=False,
    ),
    fallback=True,
)
