"""Synthetic data: determinism under any slicing, labels, spec parsing."""

from __future__ import annotations

import numpy as np
import pytest

from crpsgd.data.dataset import Dataset
from crpsgd.data.synthetic import (
    SyntheticSpec,
    block_rows,
    is_synthetic,
    parse_synthetic_spec,
    synthetic_rows,
    synthetic_weights,
)
from crpsgd.errors import UsageError


def same(a: Dataset, b: Dataset) -> bool:
    if a.shape != b.shape or a.is_sparse != b.is_sparse or not np.array_equal(a.y, b.y):
        return False
    if a.is_sparse:
        return (
            np.array_equal(a.indptr, b.indptr)
            and np.array_equal(a.indices, b.indices)
            and np.array_equal(a.data, b.data)
        )
    return np.array_equal(a.dense, b.dense)


SPECS = [
    "synthetic:n=9000,d=20,seed=3",
    "synthetic:n=9000,d=30,density=0.1,seed=4",
    "synthetic:n=700,d=5000,density=0.5,seed=5",  # wide rows: small blocks (209 rows)
]


@pytest.mark.parametrize("text", SPECS)
def test_rows_do_not_depend_on_slicing(text):
    spec = parse_synthetic_spec(text)
    full = synthetic_rows(spec, 0, spec.n)
    assert full.shape == (spec.n, spec.d) and full.is_sparse == (spec.density < 1)
    R = block_rows(spec)
    cuts = [(0, 1), (R - 1, R + 1), (R, 2 * R), (5, spec.n), (spec.n - 1, spec.n), (17, 17)]
    rng = np.random.default_rng(0)
    cuts += [tuple(sorted(rng.integers(0, spec.n + 1, size=2))) for _ in range(5)]
    for start, stop in cuts:
        start, stop = min(start, spec.n), min(stop, spec.n)
        assert same(synthetic_rows(spec, start, stop), full.rows(start, stop)), (start, stop)
    mid = min(4100, spec.n - 1)
    parts = [synthetic_rows(spec, a, b) for a, b in [(0, 333), (333, mid), (mid, spec.n)]]
    assert np.array_equal(np.concatenate([p.y for p in parts]), full.y)


def test_rows_do_not_depend_on_n():
    small = synthetic_rows(parse_synthetic_spec("synthetic:n=5000,d=10,density=0.3"), 0, 5000)
    big = synthetic_rows(parse_synthetic_spec("synthetic:n=9000,d=10,density=0.3"), 0, 5000)
    assert same(small, big)


def test_layout_and_types():
    dense = synthetic_rows(SyntheticSpec(n=100, d=7), 0, 100)
    assert dense.dense.flags.c_contiguous and dense.dense.dtype == np.float64
    sparse = synthetic_rows(SyntheticSpec(n=100, d=7, density=0.2), 0, 100)
    assert sparse.indptr.dtype == np.int64 and sparse.indices.dtype == np.int32
    assert sparse.indptr[0] == 0 and sparse.data.dtype == np.float64
    for i in range(100):  # columns strictly increasing within each row, in range
        cols = sparse.indices[sparse.indptr[i] : sparse.indptr[i + 1]]
        assert np.all(np.diff(cols) > 0) and np.all((cols >= 0) & (cols < 7))


def test_seeds_differ():
    a = synthetic_rows(SyntheticSpec(n=200, d=10, seed=1), 0, 200)
    b = synthetic_rows(SyntheticSpec(n=200, d=10, seed=2), 0, 200)
    assert not np.array_equal(a.dense, b.dense)
    assert not np.array_equal(
        synthetic_weights(SyntheticSpec(seed=1)), synthetic_weights(SyntheticSpec(seed=2))
    )


def test_labels_statistics():
    spec = SyntheticSpec(n=20000, d=20, noise=0.1, seed=7)
    ds = synthetic_rows(spec, 0, spec.n)
    assert set(np.unique(ds.y)) == {-1.0, 1.0}
    margin = ds.dense @ synthetic_weights(spec)
    assert 0.9 < margin.std() < 1.1  # O(1) margins
    flipped = np.mean(np.where(margin >= 0, 1.0, -1.0) != ds.y)
    assert 0.09 < flipped < 0.11
    assert 0.45 < np.mean(ds.y > 0) < 0.55
    noiseless = synthetic_rows(SyntheticSpec(n=2000, d=20, noise=0.0, seed=7), 0, 2000)
    assert np.array_equal(np.sign(noiseless.dense @ synthetic_weights(spec)), noiseless.y)


def test_density_and_scale():
    ds = synthetic_rows(SyntheticSpec(n=4000, d=100, density=0.05, scale=3.0), 0, 4000)
    assert 0.045 < ds.nnz / (4000 * 100) < 0.055
    assert 2.8 < ds.data.std() < 3.2


# --------------------------------------------------------------------------- spec strings


def test_defaults_and_canonical_string():
    assert parse_synthetic_spec("synthetic") == SyntheticSpec()
    assert parse_synthetic_spec("synthetic:") == SyntheticSpec()
    spec = parse_synthetic_spec("synthetic:n=20000, d=50,seed=1,density=0.1")
    assert spec == SyntheticSpec(n=20000, d=50, density=0.1, seed=1)
    text = "synthetic:n=20000,d=50,density=0.1,noise=0.05,scale=1.0,seed=1"
    assert str(spec) == spec.to_string() == text
    assert parse_synthetic_spec(text) == spec
    assert is_synthetic("synthetic") and is_synthetic("synthetic:n=3")
    assert not is_synthetic("synthetic.svm") and not is_synthetic("data/synthetic")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("synthetic:m=3", "m=3: unknown key"),
        ("synthetic:n=abc", "n=abc: must be an integer"),
        ("synthetic:n=1.5", "n=1.5: must be an integer"),
        ("synthetic:n=0", "n=0: must be >= 1"),
        ("synthetic:d=-2", "d=-2: must be >= 1"),
        ("synthetic:density=0", "density=0.0: must be in (0, 1]"),
        ("synthetic:density=1.5", "density=1.5: must be in (0, 1]"),
        ("synthetic:density=nan", "density=nan: must be in (0, 1]"),
        ("synthetic:noise=0.5", "noise=0.5: must be in [0, 0.5)"),
        ("synthetic:noise=-0.1", "noise=-0.1: must be in [0, 0.5)"),
        ("synthetic:scale=0", "scale=0.0: must be > 0"),
        ("synthetic:scale=x", "scale=x: must be a number"),
        ("synthetic:seed=-1", "seed=-1: must be >= 0"),
        ("synthetic:n=5,n=6", "n=6: n given twice"),
        ("synthetic:n", "'n': expected key=value"),
        ("synthetic:n=5,", "'': expected key=value"),
        ("synthetic:=5", "'=5': expected key=value"),
        ("synthetic5", "not a synthetic spec"),
    ],
)
def test_spec_errors(text, fragment):
    with pytest.raises(UsageError) as info:
        parse_synthetic_spec(text)
    assert fragment in str(info.value)


def test_bad_row_range():
    with pytest.raises(UsageError, match="not within the 10 rows"):
        synthetic_rows(SyntheticSpec(n=10), 3, 11)
