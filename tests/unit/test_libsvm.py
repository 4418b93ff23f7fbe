"""LIBSVM reader: agreement with scikit-learn and a reference parser, every error, fuzzing."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crpsgd.data.libsvm import read_libsvm
from crpsgd.errors import DataFormatError, UsageError

sklearn_datasets = pytest.importorskip("sklearn.datasets")

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
A9A = DATA_DIR / "a9a"
A9A_T = DATA_DIR / "a9a.t"
needs_a9a = pytest.mark.skipif(
    not (A9A.exists() and A9A_T.exists()), reason=f"real data not found in {DATA_DIR}"
)


def write(tmp_path: Path, content: bytes, name: str = "data.svm") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def assert_same_as_sklearn(path: Path, n_features: int | None = None) -> None:
    ours = read_libsvm(path, n_features=n_features)
    X, y = sklearn_datasets.load_svmlight_file(str(path), n_features=n_features)
    y = np.where(y == 0, -1.0, y)
    assert ours.shape == X.shape
    np.testing.assert_array_equal(ours.y, y)
    np.testing.assert_array_equal(ours.indptr, X.indptr)
    np.testing.assert_array_equal(ours.indices, X.indices)
    np.testing.assert_array_equal(ours.data, X.data)
    assert ours.indptr.dtype == np.int64 and ours.indices.dtype == np.int32
    assert ours.data.dtype == np.float64 and ours.y.dtype == np.float64


# --------------------------------------------------------------------------- real data


@needs_a9a
def test_a9a_matches_sklearn():
    assert_same_as_sklearn(A9A)
    ds = read_libsvm(A9A)
    assert ds.shape == (32561, 123)
    assert int((ds.y > 0).sum()) == 7841


@needs_a9a
def test_a9a_t_with_declared_width():
    assert_same_as_sklearn(A9A_T, n_features=123)
    ds = read_libsvm(A9A_T, n_features=123)
    assert ds.shape == (16281, 123)
    assert read_libsvm(A9A_T).n_features == 122  # inferred: the file never uses feature 123
    with pytest.raises(
        DataFormatError, match=r"a9a\.t:24: index 121 in .121:1. exceeds n_features=100"
    ):
        read_libsvm(A9A_T, n_features=100)


@needs_a9a
def test_dense_equals_csr():
    csr = read_libsvm(A9A_T, n_features=123)
    dense = read_libsvm(A9A_T, n_features=123, dense=True)
    assert dense.dense.flags.c_contiguous and dense.dense.dtype == np.float64
    np.testing.assert_array_equal(dense.dense, csr.to_dense())
    np.testing.assert_array_equal(dense.y, csr.y)


# --------------------------------------------------------------------------- generated files


def random_file(rng: np.random.Generator, n: int, d: int, fmt: str, labels=(-1, 1)) -> bytes:
    lines = []
    for _ in range(n):
        k = int(rng.integers(0, min(d, 8) + 1))
        cols = np.sort(rng.choice(d, size=k, replace=False)) + 1
        vals = rng.standard_normal(k) * 10.0 ** rng.integers(-5, 6, size=k)
        toks = [str(labels[int(rng.integers(0, 2))])]
        for c, v in zip(cols, vals, strict=True):
            toks.append(f"{c}:{repr(float(v)) if fmt == 'repr' else format(v, fmt)}")
        lines.append(" ".join(toks))
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("fmt", ["g", ".3f", ".6e", ".17g", "repr", ".20e"])
def test_generated_files_match_sklearn(tmp_path, fmt):
    rng = np.random.default_rng(abs(hash(fmt)) % 2**32)
    path = write(tmp_path, random_file(rng, 300, 40, fmt))
    assert_same_as_sklearn(path, n_features=40)


def test_zero_one_labels_are_mapped(tmp_path):
    path = write(tmp_path, b"0 1:1\n1 2:1\n0.0 1:2\n+1 3:1\n")
    ds = read_libsvm(path)
    np.testing.assert_array_equal(ds.y, [-1.0, 1.0, -1.0, 1.0])
    assert_same_as_sklearn(path)


def test_label_spellings(tmp_path):
    path = write(tmp_path, b"+1 1:1\n1 1:1\n1.0 1:1\n1e0 1:1\n-1 1:1\n-1.00 1:1\n-10e-1 1:1\n")
    np.testing.assert_array_equal(read_libsvm(path).y, [1, 1, 1, 1, -1, -1, -1])


def test_single_class_file_is_fine(tmp_path):
    assert read_libsvm(write(tmp_path, b"1 1:1\n1 2:1\n")).n_rows == 2


def test_layout_details(tmp_path):
    content = b"# header\n\n+1 1:0.5 3:-2 # trailing\r\n  -1\t2:1e-3   \r\n\n-1 # only a label\n"
    ds = read_libsvm(write(tmp_path, content), n_features=5)
    assert ds.shape == (3, 5)
    np.testing.assert_array_equal(ds.indptr, [0, 2, 3, 3])
    np.testing.assert_array_equal(ds.indices, [0, 2, 1])
    np.testing.assert_array_equal(ds.data, [0.5, -2.0, 1e-3])
    np.testing.assert_array_equal(ds.y, [1, -1, -1])


def test_explicit_zero_is_kept(tmp_path):
    ds = read_libsvm(write(tmp_path, b"1 1:0 2:1\n"))
    np.testing.assert_array_equal(ds.data, [0.0, 1.0])


def test_no_final_newline(tmp_path):
    ds = read_libsvm(write(tmp_path, b"1 1:1\n-1 2:7.5"))
    np.testing.assert_array_equal(ds.data, [1.0, 7.5])


def test_exact_float_conversion(tmp_path):
    values = [
        "0.1", "1e-300", "2.2250738585072014e-308", "4.9e-324", "1.7976931348623157e308",
        "123456789012345678901234567890", "0.30000000000000004", "9007199254740993",
        "1e23", "8.98846567431158e307", "1.00000000000000011102230246251565404236316680908203125",
        "-0", "0e999999", "1e-999999",
    ]  # fmt: skip
    line = "1 " + " ".join(f"{i + 1}:{v}" for i, v in enumerate(values)) + "\n"
    ds = read_libsvm(write(tmp_path, line.encode()))
    expected = np.array([float(v) for v in values])
    assert ds.data.tobytes() == expected.tobytes()  # bit for bit, sign of zero included


def random_number_strings(rng: np.random.Generator, n: int) -> list[str]:
    """Decimal strings of every shape the converter has a path for."""
    out = []
    for _ in range(n):
        kind = int(rng.integers(0, 5))
        if kind == 0:  # shortest round-trip repr over the whole double range
            bits = rng.integers(0, 0x7FF0000000000000, dtype=np.int64)
            out.append(repr(float(np.array(bits).view(np.float64))))
        elif kind == 1:
            out.append(
                f"{rng.standard_normal() * 10.0 ** rng.integers(-25, 25):.{rng.integers(1, 22)}g}"
            )
        elif kind == 2:  # near half-way between two doubles, printed with 15..40 digits
            x = float(rng.random() * 10.0 ** rng.integers(-30, 30))
            mid = (Decimal(x) + Decimal(float(np.nextafter(x, np.inf)))) / 2
            out.append(f"{mid:.{rng.integers(15, 40)}e}")
        else:  # free form: leading/trailing zeros, long digit strings, exponents
            ip = "".join(map(str, rng.integers(0, 10, int(rng.integers(0, 25)))))
            fp = "".join(map(str, rng.integers(0, 10, int(rng.integers(0, 25)))))
            ip, fp = "0" * int(rng.integers(0, 3)) + ip, fp + "0" * int(rng.integers(0, 5))
            text = (ip or "0") + ("." + fp if fp else "")
            if rng.random() < 0.6:
                text += f"e{int(rng.integers(-340, 300))}"
            out.append(("-" if rng.random() < 0.5 else "") + text)
    return [v for v in out if np.isfinite(float(v))]


def test_values_equal_python_float(tmp_path):
    values = random_number_strings(np.random.default_rng(11), 20000)
    lines = [
        "1 " + " ".join(f"{j + 1}:{v}" for j, v in enumerate(values[i : i + 20]))
        for i in range(0, len(values), 20)
    ]
    ds = read_libsvm(write(tmp_path, ("\n".join(lines) + "\n").encode()))
    expected = np.array([float(v) for v in values])
    assert ds.data.tobytes() == expected.tobytes()


def test_exact_half_way_values(tmp_path):
    # 2**53 + 1 is half-way between two doubles (ties to even: down); so is 2**53 + 3 (up)
    values = ["9007199254740993", "9007199254740995", "9007199254740993.000000000000001",
              "1.00000000000000011102230246251565404236316680908203125",
              "1.000000000000000111022302462515654042363166809082031250001"]  # fmt: skip
    line = "1 " + " ".join(f"{i + 1}:{v}" for i, v in enumerate(values)) + "\n"
    ds = read_libsvm(write(tmp_path, line.encode()))
    assert ds.data.tobytes() == np.array([float(v) for v in values]).tobytes()


# --------------------------------------------------------------------------- errors

BAD_CASES = [
    # (content, line, message fragment)
    (b"1 1:1\n+1 2:1\n2 1:1\n", 3, "non-binary label '2'"),
    (b"1 1:1\n0.5 1:1\n", 2, "non-binary label '0.5'"),
    (b"1 1:1\n-1 2:1\n0 1:1\n", 3, "non-binary label '0': line 2 has label -1"),
    (b"0 1:1\n\n-1 2:1\n", 3, "non-binary label '-1': line 1 has label 0"),
    (b"1 1:1\n1,2 1:1\n", 2, "bad label '1,2'"),
    (b"1 1:1\nabc 1:1\n", 2, "bad label 'abc'"),
    (b"1 1:1\nnan 1:1\n", 2, "bad label 'nan'"),
    (b"1 1:1\n1.0000000000000000001 1:1\n", 2, "non-binary label"),
    (b"1 1:1\n1e-400 1:1\n", 2, "non-binary label"),
    (b"1 1:1\n3:1 4:1\n", 2, "missing label"),
    (b"1 qid:1 1:1\n", 1, "qid (ranking data) is not supported"),
    (b"# c\n1 1:1 qid:1\n", 2, "qid"),
    (b"1 1:1 1:2\n", 1, "duplicate index 1"),
    (b"1 1:1\n1 3:1 2:1\n", 2, "index 2 in '2:1' after index 3"),
    (b"1 0:1\n", 1, "index 0 in '0:1': indices are 1-based"),
    (b"1 1:1\n1 99999999999:1\n", 2, "index too large"),
    (b"1 1:\n", 1, "missing value in '1:'"),
    (b"1 1:abc\n", 1, "bad value in '1:abc'"),
    (b"1 1:1.2.3\n", 1, "bad value"),
    (b"1 1:1e\n", 1, "bad value"),
    (b"1 1:0x10\n", 1, "bad value"),
    (b"1 1:1_000\n", 1, "bad value"),
    (b"1 1:1\n1 2:nan\n", 2, "non-finite value in '2:nan'"),
    (b"1 1:inf\n", 1, "non-finite value"),
    (b"1 1:-Infinity\n", 1, "non-finite value"),
    (b"1 1:1\n\n-1 1:1e400\n", 3, "non-finite value in '1:1e400'"),
    (b"1 1:1\n-1 2:-1e99999999999999999999\n", 2, "non-finite value"),
    (b"1 a:1\n", 1, "expected index:value, got 'a:1'"),
    (b"1 1:1 2\n", 1, "expected index:value, got '2'"),
    (b"1 -3:1\n", 1, "expected index:value, got '-3:1'"),
    (b"1 1:1\n-1 2:3:4\n", 2, "bad value in '2:3:4'"),
    (b"1 1:1\x00\n", 1, r"bad value in '1:1\x00'"),
    (b"1 1:1\n\xff\xfe 1:1\n", 2, r"bad label '\xff\xfe'"),
    (b"1 1:\xc3\xa9\n", 1, "bad value in '1:\u00e9'"),
]


@pytest.mark.parametrize(("content", "line", "fragment"), BAD_CASES)
def test_malformed_line(tmp_path, content, line, fragment):
    path = write(tmp_path, content)
    with pytest.raises(DataFormatError) as info:
        read_libsvm(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message, message
    assert info.value.line == line and info.value.path == str(path)
    assert message.count("\n") == 0


def test_index_beyond_declared_width(tmp_path):
    path = write(tmp_path, b"1 1:1 2:1\n\n-1 3:1 7:1\n")
    with pytest.raises(DataFormatError, match=r":3: index 7 in '7:1' exceeds n_features=5"):
        read_libsvm(path, n_features=5)
    assert read_libsvm(path, n_features=7).n_features == 7
    assert read_libsvm(path, n_features=10).n_features == 10


def test_first_error_wins(tmp_path):
    # an overflowing value (re-parsed in Python) on line 2 comes before a bad token on line 3
    path = write(tmp_path, b"1 1:1\n1 1:1e999\n1 x\n")
    with pytest.raises(DataFormatError, match=r":2: non-finite"):
        read_libsvm(path)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"", "no samples (the file is empty)"), (b"\n  \n# only\n", "no samples (only blank")],
)
def test_no_samples(tmp_path, content, fragment):
    path = write(tmp_path, content)
    with pytest.raises(DataFormatError, match=re.escape(f"{path}: {fragment}")):
        read_libsvm(path)


def test_no_features_needs_width(tmp_path):
    path = write(tmp_path, b"1\n-1\n")
    with pytest.raises(DataFormatError, match="no features"):
        read_libsvm(path)
    assert read_libsvm(path, n_features=3).shape == (2, 3)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataFormatError, match=r"nope\.svm: no such file$"):
        read_libsvm(tmp_path / "nope.svm")
    with pytest.raises(DataFormatError, match="is a directory"):
        read_libsvm(tmp_path)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_bad_n_features(tmp_path, bad):
    with pytest.raises(UsageError, match="n_features"):
        read_libsvm(write(tmp_path, b"1 1:1\n"), n_features=bad)


# --------------------------------------------------------------------------- reference + fuzz

_NUMBER = re.compile(rb"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def reference_parse(raw: bytes, n_features: int | None):
    """A slow, obvious implementation of the rules: ``("ok", y, rows, d)`` or ``("err", line)``."""
    ys, rows = [], []
    seen: dict[str, int] = {}
    for lineno, text in enumerate(raw.split(b"\n"), 1):
        toks = text.split(b"#", 1)[0].split()
        if not toks:
            continue
        label = toks[0]
        if b":" in label or not _NUMBER.fullmatch(label):
            return ("err", lineno)
        try:
            value = Decimal(label.decode())
        except InvalidOperation:  # pragma: no cover
            return ("err", lineno)
        if value not in (-1, 0, 1):
            return ("err", lineno)
        cls = "1" if value == 1 else ("-1" if value == -1 else "0")
        seen.setdefault(cls, lineno)
        if "-1" in seen and "0" in seen:
            return ("err", lineno)
        row, prev = [], 0
        for tok in toks[1:]:
            idx, colon, val = tok.partition(b":")
            if not colon or not idx.isdigit() or not idx.isascii():
                return ("err", lineno)
            i = int(idx)
            if i < 1 or i > (n_features or 2**31 - 1) or i <= prev:
                return ("err", lineno)
            if not _NUMBER.fullmatch(val) or not np.isfinite(float(val)):
                return ("err", lineno)
            row.append((i - 1, float(val)))
            prev = i
        ys.append(1.0 if cls == "1" else -1.0)
        rows.append(row)
    if not rows:
        return ("err", None)
    d = n_features or max((i + 1 for r in rows for i, _ in r), default=0)
    if d == 0:
        return ("err", None)
    return ("ok", ys, rows, d)


def check_against_reference(path: Path, raw: bytes, n_features: int | None) -> None:
    expected = reference_parse(raw, n_features)
    try:
        ds = read_libsvm(path, n_features=n_features)
    except DataFormatError as e:
        assert expected[0] == "err", (raw, str(e))
        assert e.line == expected[1], (raw, str(e), expected)
        return
    assert expected[0] == "ok", (raw, expected)
    _, ys, rows, d = expected
    assert ds.n_features == d
    np.testing.assert_array_equal(ds.y, ys)
    np.testing.assert_array_equal(ds.indptr, np.cumsum([0] + [len(r) for r in rows]))
    flat = [e for r in rows for e in r]
    np.testing.assert_array_equal(ds.indices, [i for i, _ in flat])
    assert ds.data.tobytes() == np.array([v for _, v in flat], dtype=np.float64).tobytes()


FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(tmp_path, raw):
    path = write(tmp_path, raw, "fuzz.svm")
    try:
        read_libsvm(path)
    except DataFormatError:
        pass


_TOKENS = st.sampled_from(
    [b"1", b"-1", b"+1", b"0", b"1.0", b"2", b" ", b"  ", b"\t", b"\n", b"\r\n", b"#", b":",
     b"1:", b"2:", b"3:", b"12:", b"0:", b"qid:", b"0.5", b"-2.5e-3", b"1e400", b"nan", b".",
     b"e", b"7", b"9007199254740993", b"0.1000000000000000055511151231257827", b"\xff", b"\x00"]
)  # fmt: skip


@FUZZ
@given(parts=st.lists(_TOKENS, max_size=40), width=st.sampled_from([None, 3, 12, 20]))
def test_fuzz_structured_against_reference(tmp_path, parts, width):
    raw = b"".join(parts)
    check_against_reference(write(tmp_path, raw, "fuzz.svm"), raw, width)


_ENTRY = st.tuples(
    st.integers(1, 30),
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False).map(lambda v: repr(v).encode()),
        st.floats(allow_nan=False, allow_infinity=False).map(lambda v: b"%.6g" % v),
        st.decimals(allow_nan=False, allow_infinity=False, places=None).map(
            lambda v: str(v).encode()
        ),
    ),
)


@FUZZ
@given(
    lines=st.lists(
        st.tuples(st.sampled_from([b"-1", b"1"]), st.lists(_ENTRY, max_size=6)),
        min_size=1,
        max_size=6,
    )
)
def test_fuzz_wellformed_values_against_reference(tmp_path, lines):
    out = []
    for label, entries in lines:
        cols = sorted({c for c, _ in entries})
        vals = [v for _, v in entries][: len(cols)]
        toks = [b"%d:%s" % (c, v) for c, v in zip(cols, vals, strict=True)]
        out.append(b" ".join([label, *toks]))
    raw = b"\n".join(out) + b"\n"
    check_against_reference(write(tmp_path, raw, "fuzz.svm"), raw, 30)
