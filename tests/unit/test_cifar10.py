"""The CIFAR-10 binary reader on generated files, and fuzzed: any bytes give arrays or one
DataFormatError naming the file (and record)."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crpsgd.data.cifar10 import RECORD_BYTES, read_cifar10_binary
from crpsgd.errors import DataFormatError

TMP = Path(tempfile.mkdtemp(prefix="crpsgd-cifar-"))


def _records(labels, rng):
    images = rng.integers(0, 256, size=(len(labels), 3, 32, 32), dtype=np.uint8)
    raw = np.concatenate(
        [np.concatenate([[lab], img.ravel()]) for lab, img in zip(labels, images, strict=True)]
    ).astype(np.uint8)
    return images, raw


def test_reads_labels_and_channel_planes(tmp_path):
    rng = np.random.default_rng(0)
    images, raw = _records([3, 0, 9, 7], rng)
    path = tmp_path / "data_batch_1.bin"
    raw.tofile(path)
    got_images, got_labels = read_cifar10_binary(path)
    np.testing.assert_array_equal(got_labels, [3, 0, 9, 7])
    np.testing.assert_array_equal(got_images, images)
    # the first byte after the label is the red pixel of row 0, column 0
    assert got_images[1, 0, 0, 0] == raw[RECORD_BYTES + 1]
    assert got_images[1, 2, 31, 31] == raw[2 * RECORD_BYTES - 1]


def test_errors_name_file_and_record(tmp_path):
    rng = np.random.default_rng(1)
    _, raw = _records([1, 2, 12], rng)
    bad_label = tmp_path / "bad.bin"
    raw.tofile(bad_label)
    with pytest.raises(DataFormatError, match=r"bad.bin:3: record 3 has label 12"):
        read_cifar10_binary(bad_label)
    truncated = tmp_path / "cut.bin"
    raw[: 2 * RECORD_BYTES - 5].tofile(truncated)
    with pytest.raises(DataFormatError, match=r"cut.bin:2: record 2 is truncated"):
        read_cifar10_binary(truncated)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty.bin: empty file"):
        read_cifar10_binary(empty)
    with pytest.raises(DataFormatError, match="no such file"):
        read_cifar10_binary(tmp_path / "absent.bin")


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=4 * RECORD_BYTES + 3),
        st.integers(1, 3).flatmap(
            lambda n: st.binary(min_size=n * RECORD_BYTES, max_size=n * RECORD_BYTES)
        ),
    )
)
def test_fuzz_any_bytes(data):
    path = TMP / "fuzz.bin"
    path.write_bytes(data)
    try:
        images, labels = read_cifar10_binary(path)
    except DataFormatError as exc:
        assert str(path) in str(exc)
    else:
        assert images.shape == (len(data) // RECORD_BYTES, 3, 32, 32)
        assert labels.max() <= 9
