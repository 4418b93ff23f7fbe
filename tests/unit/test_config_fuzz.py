"""Hostile configuration files: any bytes give a configuration or one clean UsageError
naming the file; nothing is ever evaluated."""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crpsgd.errors import UsageError
from crpsgd.registry.config import PARAMS, merge

TMP = Path(tempfile.mkdtemp(prefix="crpsgd-fuzz-"))


def _merge_file(data: bytes) -> None:
    path = TMP / "fuzz.toml"
    path.write_bytes(data)
    try:
        cfg = merge({}, str(path))
    except UsageError as exc:
        assert str(path) in str(exc) or "=" in str(exc)
    else:
        assert cfg["config"] == str(path)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes(data):
    _merge_file(data)


toml_values = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(
        lambda f: {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(f), repr(f))
    ),
    st.booleans().map(lambda b: str(b).lower()),
    st.text(max_size=20).map(lambda s: '"' + s.replace("\\", "").replace('"', "") + '"'),
    st.just("[1, 2]"),
    st.just("{a = 1}"),
    st.just("1979-05-27T07:32:00Z"),
    st.just('"auto"'),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([p.name for p in PARAMS] + ["bogus"]), toml_values), max_size=6
    )
)
def test_any_known_or_unknown_key_with_any_value(items):
    text = "\n".join(f"{k} = {v}" for k, v in items).replace("\x00", "")
    _merge_file(text.encode("utf-8", "surrogatepass"))
