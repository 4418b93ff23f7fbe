"""Loader: the three kinds of source, shards, widths, identity."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from crpsgd.data.convert import convert_libsvm_to_h5
from crpsgd.data.dataset import Dataset
from crpsgd.data.loader import data_identity, describe_source, load_shard, source_kind
from crpsgd.data.synthetic import parse_synthetic_spec, synthetic_rows
from crpsgd.errors import DataFormatError, UsageError

SVM = b"1 1:1 3:0.5\n-1 2:2\n-1 1:-1 3:1\n1 2:4\n1\n-1 1:3\n1 3:3\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    svm = tmp_path / "small.svm"
    svm.write_bytes(SVM)
    h5 = tmp_path / "small.h5"
    convert_libsvm_to_h5(svm, h5, n_features=4)
    bare = tmp_path / "small_h5_without_extension"
    bare.write_bytes(h5.read_bytes())
    return {"libsvm": str(svm), "hdf5": str(h5), "bare": str(bare)}


def assemble(source: str, size: int, **kw) -> tuple[list[Dataset], int]:
    parts, totals = [], set()
    for rank in range(size):
        part, n = load_shard(source, rank, size, **kw)
        parts.append(part)
        totals.add(n)
    assert len(totals) == 1
    return parts, totals.pop()


def dense_of(parts: list[Dataset]) -> tuple[np.ndarray, np.ndarray]:
    return np.vstack([p.to_dense() for p in parts]), np.concatenate([p.y for p in parts])


def test_source_kind(files):
    assert source_kind("synthetic:n=5") == "synthetic"
    assert source_kind(files["libsvm"]) == "libsvm"
    assert source_kind(files["hdf5"]) == "hdf5"
    assert source_kind(files["bare"]) == "hdf5"  # by signature
    assert source_kind("missing.hdf5") == "hdf5"
    assert source_kind("missing.svm") == "libsvm"


@pytest.mark.parametrize("kind", ["libsvm", "hdf5", "bare"])
def test_file_shards_cover_the_data(files, kind):
    whole, n = load_shard(files[kind], 0, 1, n_features=4)
    assert n == 7 and whole.shape == (7, 4)
    np.testing.assert_array_equal(whole.y, [1, -1, -1, 1, 1, -1, 1])
    for size in range(1, 8):
        parts, n = assemble(files[kind], size, n_features=4)
        assert n == 7
        assert [p.n_rows for p in parts] == [len(range(r, 7, size)) for r in range(size)]
        X, y = dense_of(parts)
        np.testing.assert_array_equal(X, whole.to_dense())
        np.testing.assert_array_equal(y, whole.y)


def test_synthetic_shards():
    source = "synthetic:n=1000,d=6,density=0.5,seed=2"
    spec = parse_synthetic_spec(source)
    full = synthetic_rows(spec, 0, 1000)
    parts, n = assemble(source, 3)
    assert n == 1000 and all(p.is_sparse for p in parts)
    X, y = dense_of(parts)
    np.testing.assert_array_equal(X, full.to_dense())
    np.testing.assert_array_equal(y, full.y)


def test_libsvm_shard_owns_its_arrays(files):
    part, _ = load_shard(files["libsvm"], 1, 3)
    assert part.indices.base is None and part.data.base is None and part.y.base is None


def test_dense_option_and_widening(files):
    part, _ = load_shard(files["libsvm"], 0, 2, dense=True)
    assert not part.is_sparse and part.shape == (4, 3)
    part, _ = load_shard(files["hdf5"], 0, 2, n_features=6, dense=True)
    assert part.shape == (4, 6) and np.all(part.dense[:, 4:] == 0)
    part, _ = load_shard("synthetic:n=10,d=3", 0, 1, n_features=5)
    assert part.shape == (10, 5) and not part.is_sparse
    with pytest.raises(UsageError, match="n_features=3: .* has 4 features"):
        load_shard(files["hdf5"], 0, 1, n_features=3)
    with pytest.raises(DataFormatError, match=":1: index 3 in '3:0.5' exceeds n_features=2"):
        load_shard(files["libsvm"], 0, 1, n_features=2)


@pytest.mark.parametrize("kind", ["libsvm", "hdf5", "synthetic"])
def test_more_ranks_than_rows(files, kind):
    source = "synthetic:n=7" if kind == "synthetic" else files[kind]
    with pytest.raises(UsageError, match=f"8 ranks but only 7 rows in {source}"):
        load_shard(source, 0, 8)


def test_describe_source(files):
    assert describe_source(files["libsvm"]) == (7, 3)
    assert describe_source(files["libsvm"], n_features=4) == (7, 4)
    assert describe_source(files["hdf5"]) == (7, 4)
    assert describe_source("synthetic:n=20000,d=50") == (20000, 50)
    with pytest.raises(UsageError, match="has 4 features"):
        describe_source(files["hdf5"], n_features=2)


def test_data_identity(files):
    ident = data_identity(files["libsvm"])
    assert ident == {
        "path": files["libsvm"],
        "sha256": hashlib.sha256(SVM).hexdigest(),
        "kind": "libsvm",
    }
    assert data_identity(files["hdf5"])["kind"] == "hdf5"
    syn = data_identity("synthetic:seed=3,n=100")
    canonical = "synthetic:n=100,d=50,density=1.0,noise=0.05,scale=1.0,seed=3"
    assert syn == {
        "path": canonical,
        "sha256": hashlib.sha256(canonical.encode()).hexdigest(),
        "kind": "synthetic",
    }
    assert data_identity("synthetic:n=100,seed=3") == syn


@pytest.mark.parametrize("source", ["nope.svm", "nope.h5"])
def test_missing_files(tmp_path, source):
    path = str(tmp_path / source)
    for call in (lambda: load_shard(path, 0, 1), lambda: data_identity(path)):
        with pytest.raises(DataFormatError, match=f"{path}: no such file$"):
            call()
    with pytest.raises(DataFormatError, match="no such file"):
        describe_source(path)


def test_bad_synthetic_spec():
    with pytest.raises(UsageError, match="density=2.0"):
        load_shard("synthetic:density=2", 0, 1)


def test_test_set_width_narrower_stored_file_is_refused_naming_the_fix(files, tmp_path):
    from crpsgd.data.loader import load_test_shard

    narrow = str(tmp_path / "narrow.h5")
    convert_libsvm_to_h5(files["libsvm"], narrow)  # without --n-features: width 3, not 4
    with pytest.raises(
        UsageError,
        match=r"--test-data=.*narrow\.h5: 3 features .* has 4 .*"
        r"convert it again with --n-features 4",
    ):
        load_test_shard(narrow, 0, 1, train_width=4)
    # with --n-features given the user chose the width: padded, as for training data
    part, _ = load_test_shard(narrow, 0, 1, train_width=4, n_features=4)
    assert part.n_features == 4
    # a LIBSVM text file has no width of its own: read at the training width
    part, n = load_test_shard(files["libsvm"], 0, 1, train_width=6)
    assert part.n_features == 6 and n == 7
    # a stored width equal to the training width is accepted as it is
    assert load_test_shard(files["hdf5"], 1, 2, train_width=4)[0].n_features == 4
    with pytest.raises(UsageError, match="synthetic.*5 features but the training data has 4"):
        load_test_shard("synthetic:n=10,d=5", 0, 1, train_width=4)


def test_a_registered_data_source_serves_loading_identity_and_path_checks(monkeypatch, tmp_path):
    """A reader declared once (here a toy ``ones:N`` source) is what loading, the log's
    identity, the resume comparison and the run's input checks use."""
    import numpy as np

    from crpsgd.data import sources
    from crpsgd.data.dataset import Dataset
    from crpsgd.data.loader import same_source
    from crpsgd.data.shard import shard_bounds
    from crpsgd.session.run_paths import check_run_paths

    def rows(source, rank, size, d):
        n = int(source.split(":")[1])
        start, stop = shard_bounds(n, rank, size)
        return Dataset(np.ones(stop - start), 2, dense=np.ones((stop - start, 2))), n

    toy = sources.DataSource(
        "ones",
        "ones:N: N rows of ones",
        claims=lambda s: s.startswith("ones:"),
        identity=lambda s: {"path": s, "sha256": "0" * 64, "kind": "ones"},
        names_a_file=False,
        same=lambda a, b: int(a[5:]) == int(b[5:]),
        load_rows=rows,
        describe_rows=lambda s, d: (int(s[5:]), 2),
    )
    sources.registered_sources()  # the built-in ones first
    monkeypatch.setattr(sources, "_SOURCES", [*sources._SOURCES, toy])
    ds, n = load_shard("ones:5", 1, 2)
    assert (n, ds.n_rows, source_kind("ones:5")) == (5, 2, "ones")
    assert describe_source("ones:5") == (5, 2)
    assert data_identity("ones:5")["kind"] == "ones"
    assert same_source("ones:5", "ones:05") and not same_source("ones:5", "ones:6")
    cfg = {"data": "ones:5", "test_data": None, "config": None, "checkpoint": None}
    check_run_paths(cfg, tmp_path / "run.h5")  # not a file: no input check applies to it


def test_image_data_for_a_row_problem_is_one_usage_error(tmp_path):
    with pytest.raises(UsageError, match=r"--data=cifar10:.*: cifar10 data has no rows"):
        load_shard(f"cifar10:{tmp_path}", 0, 1)


def test_the_builtin_readers_come_first_whatever_is_imported_first():
    """The ``pkg.module:fn`` reader (registered when the torch data part is imported) must not
    claim ``cifar10:DIR``, whatever was imported first: in a fresh interpreter that imports
    it before any data reader, ``cifar10:digits`` is still CIFAR-10's."""
    import subprocess
    import sys

    code = (
        "import crpsgd.builtin.torch_data\n"
        "from crpsgd.data.sources import registered_sources, source_of\n"
        "kinds = [s.kind for s in registered_sources()]\n"
        "assert kinds.index('cifar10') < kinds.index('callable'), kinds\n"
        "assert source_of('cifar10:digits').kind == 'cifar10'\n"
        "assert source_of('own.py:data').kind == 'callable'\n"
    )
    pytest.importorskip("torch")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
