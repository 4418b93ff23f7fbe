"""Ill-conditioned synthetic data (``cond=...``): the realised spectrum, and ``cond = 1`` is
the data set without the key, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from crpsgd.data.synthetic import parse_synthetic_spec, synthetic_rows, synthetic_weights
from crpsgd.errors import UsageError


def gram_condition(text: str) -> tuple[float, float]:
    """``(requested cond, condition number of A^T A / n)`` of a spec."""
    spec = parse_synthetic_spec(text)
    A = synthetic_rows(spec, 0, spec.n).to_dense()
    ev = np.linalg.eigvalsh(A.T @ A / spec.n)
    return spec.cond, float(ev[-1] / ev[0])


# n >= 400 d: the sampling error of A^T A / n is about sqrt(d / n) <= 5% per eigenvalue, so
# the realised condition number is within a factor 1.25 of the request
@pytest.mark.parametrize(
    "text",
    [
        "synthetic:n=20000,d=20,seed=3,cond=1000",
        "synthetic:n=20000,d=30,density=0.2,seed=4,cond=100",
        "synthetic:n=20000,d=50,seed=1,cond=1e4",
    ],
)
def test_realised_condition_number_is_near_the_request(text):
    want, got = gram_condition(text)
    assert want / 1.25 <= got <= want * 1.25, (want, got)


def test_cond_one_is_the_plain_data_set_bit_for_bit():
    plain = parse_synthetic_spec("synthetic:n=5000,d=30,density=0.3,seed=2")
    one = parse_synthetic_spec("synthetic:n=5000,d=30,density=0.3,seed=2,cond=1")
    assert one == plain and one.to_string() == plain.to_string()
    assert "cond" not in plain.to_string()
    a, b = synthetic_rows(plain, 0, plain.n), synthetic_rows(one, 0, one.n)
    assert np.array_equal(a.data, b.data) and np.array_equal(a.y, b.y)


def test_cond_scales_the_same_draws_and_keeps_unit_margin_variance():
    plain = parse_synthetic_spec("synthetic:n=20000,d=10,seed=7")
    ill = parse_synthetic_spec("synthetic:n=20000,d=10,seed=7,cond=400")
    assert ill.to_string().endswith(",cond=400.0")
    assert parse_synthetic_spec(ill.to_string()) == ill
    s = ill.feature_scales()
    assert s[0] == 1.0 and s[-1] == pytest.approx(1 / 20.0)  # 400^(-1/2)
    A, B = synthetic_rows(plain, 0, plain.n).dense, synthetic_rows(ill, 0, ill.n).dense
    np.testing.assert_allclose(B, A * s, rtol=0, atol=0)
    margin = B @ synthetic_weights(ill)
    assert np.var(margin) == pytest.approx(1.0, rel=0.05)


def test_sparse_rows_are_scaled_by_their_column():
    plain = parse_synthetic_spec("synthetic:n=3000,d=40,density=0.1,seed=1")
    ill = parse_synthetic_spec("synthetic:n=3000,d=40,density=0.1,seed=1,cond=50")
    a, b = synthetic_rows(plain, 100, 2900), synthetic_rows(ill, 100, 2900)
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(b.data, a.data * ill.feature_scales()[a.indices])


@pytest.mark.parametrize("value", ["0.5", "nan", "x"])
def test_bad_cond_names_the_key(value):
    with pytest.raises(UsageError, match="cond="):
        parse_synthetic_spec(f"synthetic:cond={value}")
