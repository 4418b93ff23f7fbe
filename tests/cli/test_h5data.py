"""HDF5 data files: round trips, row-range reads, bad files, and LIBSVM conversion."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from crpsgd.data.convert import convert_libsvm_to_h5
from crpsgd.data.dataset import Dataset
from crpsgd.data.h5data import read_h5_info, read_h5_rows, write_h5_dataset
from crpsgd.data.libsvm import read_libsvm
from crpsgd.data.shard import shard_bounds
from crpsgd.errors import DataFormatError, UsageError

A9A = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "a9a"


def make_csr(n: int = 23, d: int = 9, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * (rng.random((n, d)) < 0.3)
    X[4] = 0.0  # an empty row
    rows = [np.flatnonzero(r) for r in X]
    indptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int32)
    data = X[X != 0.0]
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return Dataset(y, d, indptr=indptr, indices=indices, data=data)


def make_dense(n: int = 23, d: int = 9, seed: int = 1) -> Dataset:
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return Dataset(y, d, dense=rng.standard_normal((n, d)))


def assert_same(a: Dataset, b: Dataset) -> None:
    assert a.shape == b.shape and a.is_sparse == b.is_sparse
    np.testing.assert_array_equal(a.y, b.y)
    if a.is_sparse:
        np.testing.assert_array_equal(a.indptr, b.indptr)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.data, b.data)
        assert b.indptr.dtype == np.int64 and b.indices.dtype == np.int32
    else:
        np.testing.assert_array_equal(a.dense, b.dense)
        assert b.dense.flags.c_contiguous and b.dense.dtype == np.float64


@pytest.mark.parametrize("make", [make_csr, make_dense])
def test_round_trip_and_all_shards(tmp_path, make):
    ds = make()
    path = tmp_path / "d.h5"
    write_h5_dataset(ds, path, source="unit test")
    info = read_h5_info(path)
    layout = "csr" if ds.is_sparse else "dense"
    assert info == {
        "n_rows": 23,
        "n_features": 9,
        "layout": layout,
        "nnz": ds.nnz,
        "source": "unit test",
    }
    with h5py.File(path) as f:
        assert f.attrs["format"] == "crpsgd-data" and f.attrs["format_version"] == 1
    assert_same(ds, read_h5_rows(path, 0, 23))
    for size in range(1, 6):
        for rank in range(size):
            start, stop = shard_bounds(23, rank, size)
            part = read_h5_rows(path, start, stop)
            assert_same(ds.rows(start, stop), part)
            if part.is_sparse:
                assert part.indptr[0] == 0


def test_write_rebases_a_csr_slice(tmp_path):
    ds = make_csr()
    part = ds.rows(5, 12)  # indptr no longer starts at 0 in the parent's numbering
    part = Dataset(part.y, 9, indptr=ds.indptr[5:13], indices=ds.indices, data=ds.data)
    write_h5_dataset(part, tmp_path / "p.h5")
    assert_same(ds.rows(5, 12), read_h5_rows(tmp_path / "p.h5", 0, 7))


def test_empty_range(tmp_path):
    write_h5_dataset(make_csr(), tmp_path / "d.h5")
    assert read_h5_rows(tmp_path / "d.h5", 7, 7).n_rows == 0


@pytest.mark.parametrize(("start", "stop"), [(-1, 3), (5, 4), (0, 24)])
def test_bad_range(tmp_path, start, stop):
    write_h5_dataset(make_dense(), tmp_path / "d.h5")
    with pytest.raises(UsageError, match="not within the 23 rows"):
        read_h5_rows(tmp_path / "d.h5", start, stop)


# --------------------------------------------------------------------------- bad files


def damage(path: Path, how: str) -> None:
    with h5py.File(path, "r+") as f:
        if how == "format":
            f.attrs["format"] = "crpsgd-run"
        elif how == "no-format":
            del f.attrs["format"]
        elif how == "version":
            f.attrs["format_version"] = 2
        elif how == "layout":
            f.attrs["layout"] = "coo"
        elif how == "no-y":
            del f["y"]
        elif how == "short-y":
            del f["y"]
            f["y"] = np.ones(22)
        elif how == "no-indices":
            del f["indices"]
        elif how == "indptr-len":
            del f["indptr"]
            f["indptr"] = np.zeros(5, np.int64)
        elif how == "indptr-end":
            f["indptr"][-1] = f["indptr"][-1] - 1
        elif how == "n_features":
            f.attrs["n_features"] = "many"
        elif how == "labels":
            f["y"][3] = 0.0
        elif how == "columns":
            f["indices"][0] = 9
        elif how == "X-shape":
            del f["X"]
            f["X"] = np.zeros((23, 8))


@pytest.mark.parametrize(
    ("make", "how", "fragment"),
    [
        (make_csr, "format", "not a crpsgd data file (format attribute is 'crpsgd-run'"),
        (make_csr, "no-format", "not a crpsgd data file (format attribute is None"),
        (make_csr, "version", "format_version 2 is not supported"),
        (make_csr, "layout", "layout attribute is 'coo'"),
        (make_csr, "no-y", "missing dataset 'y'"),
        (make_csr, "short-y", "y has 22 entries but n_rows=23"),
        (make_csr, "no-indices", "missing dataset 'indices'"),
        (make_csr, "indptr-len", "indptr has 5 entries"),
        (make_csr, "indptr-end", "inconsistent CSR"),
        (make_csr, "n_features", "bad n_rows / n_features"),
        (make_csr, "labels", "label y[3] = 0.0 is not -1 or +1"),
        (make_csr, "columns", "column index out of range"),
        (make_dense, "X-shape", "X has shape (23, 8), expected (23, 9)"),
        (make_dense, "no-y", "missing dataset 'y'"),
    ],
)
def test_bad_files(tmp_path, make, how, fragment):
    path = tmp_path / "bad.h5"
    write_h5_dataset(make(), path)
    damage(path, how)
    with pytest.raises(DataFormatError) as info:
        read_h5_rows(path, 0, 23)
    assert str(info.value).startswith(f"{path}: ")
    assert fragment in str(info.value)


def test_missing_and_not_hdf5(tmp_path):
    with pytest.raises(DataFormatError, match=r"nope\.h5: no such file$"):
        read_h5_info(tmp_path / "nope.h5")
    text = tmp_path / "text.h5"
    text.write_bytes(b"1 1:1\n")
    with pytest.raises(DataFormatError, match=r"text\.h5: not an HDF5 file$"):
        read_h5_info(text)
    with pytest.raises(DataFormatError, match="is a directory"):
        read_h5_info(tmp_path)


def test_truncated_file(tmp_path):
    path = tmp_path / "d.h5"
    write_h5_dataset(make_dense(n=2000, d=50), path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFormatError, match=str(path)):
        read_h5_rows(path, 0, 2000)


# --------------------------------------------------------------------------- convert


def test_convert_small(tmp_path):
    src = tmp_path / "s.svm"
    src.write_bytes(b"1 1:0.5 3:2\n0 2:1\n")
    dst = tmp_path / "s.h5"
    info = convert_libsvm_to_h5(src, dst, n_features=4)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert info == {
        "rows": 2,
        "features": 4,
        "layout": "csr",
        "nnz": 3,
        "path": str(dst),
        "source_sha256": digest,
    }
    assert_same(read_libsvm(src, n_features=4), read_h5_rows(dst, 0, 2))
    with h5py.File(dst) as f:
        assert f.attrs["source"] == str(src) and f.attrs["source_sha256"] == digest
    with pytest.raises(UsageError, match=f"{dst} exists"):
        convert_libsvm_to_h5(src, dst)
    info = convert_libsvm_to_h5(src, dst, dense=True, overwrite=True)
    assert info["layout"] == "dense" and info["nnz"] == 6
    assert_same(read_libsvm(src, dense=True), read_h5_rows(dst, 0, 2))
    assert [p.name for p in tmp_path.iterdir() if "tmp" in p.name] == []
    nested = tmp_path / "new" / "dir" / "s.h5"
    convert_libsvm_to_h5(src, nested, n_features=4)
    assert_same(read_libsvm(src, n_features=4), read_h5_rows(nested, 0, 2))


def test_convert_errors_leave_no_file(tmp_path):
    src = tmp_path / "bad.svm"
    src.write_bytes(b"1 1:1\n1 x\n")
    with pytest.raises(DataFormatError, match=":2: "):
        convert_libsvm_to_h5(src, tmp_path / "out.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.svm"]
    with pytest.raises(UsageError, match="output is the input"):
        convert_libsvm_to_h5(src, src, overwrite=True)


@pytest.mark.skipif(not A9A.exists(), reason=f"real data not found: {A9A}")
def test_convert_a9a(tmp_path):
    dst = tmp_path / "a9a.h5"
    info = convert_libsvm_to_h5(A9A, dst, n_features=123)
    assert (info["rows"], info["features"], info["nnz"]) == (32561, 123, 451592)
    full = read_libsvm(A9A, n_features=123)
    for rank in range(3):
        start, stop = shard_bounds(32561, rank, 3)
        assert_same(full.rows(start, stop), read_h5_rows(dst, start, stop))
