"""CIFAR-10 directories: sharded reading (each rank seeks to its own rows and checks only
them), the writer, the data identity, and the scikit-learn digits stand-in."""

import numpy as np
import pytest

from crpsgd.data.cifar10 import (
    RECORD_BYTES,
    TRAIN_FILES,
    cifar10_identity,
    cifar10_paths,
    read_cifar10_binary,
    read_cifar10_records,
    read_cifar10_shard,
    record_count,
    write_cifar10_binary,
)
from crpsgd.data.images import cifar10_shards
from crpsgd.data.shard import shard_bounds
from crpsgd.errors import DataFormatError, UsageError
from tests.cifar_files import write_random_cifar


def test_writer_and_reader_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(5, 3, 32, 32), dtype=np.uint8)
    labels = np.array([0, 9, 4, 4, 1], dtype=np.uint8)
    write_cifar10_binary(tmp_path / "a.bin", images, labels)
    assert (tmp_path / "a.bin").stat().st_size == 5 * RECORD_BYTES
    got_images, got_labels = read_cifar10_binary(tmp_path / "a.bin")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    part_images, part_labels = read_cifar10_records(tmp_path / "a.bin", 2, 4)
    np.testing.assert_array_equal(part_images, images[2:4])
    np.testing.assert_array_equal(part_labels, labels[2:4])


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_shards_over_files_partition_the_rows(tmp_path, size):
    written = write_random_cifar(tmp_path)
    images, labels = written["train"]
    paths = cifar10_paths(f"cifar10:{tmp_path}")[0]
    got = [read_cifar10_shard(paths, r, size) for r in range(size)]
    for r, (im, lab, n) in enumerate(got):
        lo, hi = shard_bounds(15, r, size)
        assert n == 15 and lab.dtype == np.int64
        np.testing.assert_array_equal(im, images[lo:hi])
        np.testing.assert_array_equal(lab, labels[lo:hi])


def test_a_rank_reads_only_its_own_rows(tmp_path):
    """Every record outside rank 1's shard has an invalid label: rank 1 still reads, so it
    never looked at them; rank 0, whose rows they are, reports the first one."""
    write_random_cifar(tmp_path, rows=(2, 2, 2, 2, 2))
    paths = cifar10_paths(f"cifar10:{tmp_path}")[0]
    lo, hi = shard_bounds(10, 1, 2)  # rows 5..9: file 3 record 2, files 4 and 5
    for k, path in enumerate(paths):
        raw = np.fromfile(path, dtype=np.uint8).reshape(2, RECORD_BYTES)
        for j in range(2):
            if not lo <= 2 * k + j < hi:
                raw[j, 0] = 200
        raw.tofile(path)
    images, labels, n = read_cifar10_shard(paths, 1, 2)
    assert n == 10 and labels.size == hi - lo
    with pytest.raises(DataFormatError, match=r"data_batch_1.bin:1: record 1 has label 200"):
        read_cifar10_shard(paths, 0, 2)


def test_truncated_and_malformed_files_name_file_and_record(tmp_path):
    write_random_cifar(tmp_path, rows=(3, 3, 3, 3, 3))
    third = tmp_path / TRAIN_FILES[2]
    raw = np.fromfile(third, dtype=np.uint8)
    raw[: 2 * RECORD_BYTES + 100].tofile(third)
    paths = cifar10_paths(f"cifar10:{tmp_path}")[0]
    with pytest.raises(DataFormatError, match=r"data_batch_3.bin:3: record 3 is truncated"):
        read_cifar10_shard(paths, 1, 2)  # a file's size is checked even outside the shard
    raw[RECORD_BYTES] = 10
    raw.tofile(third)
    with pytest.raises(DataFormatError, match=r"data_batch_3.bin:2: record 2 has label 10"):
        read_cifar10_shard(paths, 0, 1)
    assert record_count(tmp_path / TRAIN_FILES[0]) == 3


def test_directory_errors(tmp_path):
    with pytest.raises(UsageError, match="is not a directory"):
        cifar10_paths(f"cifar10:{tmp_path / 'absent'}")
    with pytest.raises(UsageError, match="expected cifar10:DIR"):
        cifar10_paths("cifar10:")
    write_random_cifar(tmp_path)
    (tmp_path / "test_batch.bin").unlink()
    with pytest.raises(DataFormatError, match=r"test_batch.bin: no such file"):
        cifar10_paths(f"cifar10:{tmp_path}")
    with pytest.raises(UsageError, match="4 ranks but only 3 rows"):
        read_cifar10_shard([tmp_path / TRAIN_FILES[0]], 0, 4)


def test_test_set_shards_and_identity(tmp_path):
    written = write_random_cifar(tmp_path, test_rows=5)
    train, test = cifar10_shards(f"cifar10:{tmp_path}", 1, 2)
    assert (train.n_total, test.n_total, test.n_rows) == (15, 5, 2)
    np.testing.assert_array_equal(test.x, written["test"][0][3:5])
    assert train.is_image and train.n_classes == 10
    ident = cifar10_identity(f"cifar10:{tmp_path}")
    assert ident["kind"] == "cifar10" and ident["note"] == "CIFAR-10 binary version"
    (tmp_path / "data_batch_2.bin").write_bytes((tmp_path / "data_batch_1.bin").read_bytes())
    assert cifar10_identity(f"cifar10:{tmp_path}")["sha256"] != ident["sha256"]


def test_digits_stand_in(tmp_path):
    pytest.importorskip("sklearn", reason="the digits stand-in needs scikit-learn")
    from crpsgd.data.digits import digits_images, digits_to_cifar10, main

    info = digits_to_cifar10(tmp_path / "d")
    assert (info["train_rows"], info["test_rows"]) == (1500, 297)
    train, test = cifar10_shards(f"cifar10:{tmp_path / 'd'}", 0, 1)
    assert train.n_rows == 1500 and test.n_rows == 297
    assert set(np.unique(train.labels)) == set(range(10))
    # grey, 4x4 blocks: each channel equal, each block constant, values 255/16-steps
    x = train.x
    assert (x[:, 0] == x[:, 1]).all() and (x[:, 1] == x[:, 2]).all()
    assert (x[:, :, ::4, ::4].repeat(4, axis=2).repeat(4, axis=3) == x).all()
    from sklearn.datasets import load_digits

    parts = digits_images()
    digits = load_digits()
    first_test = np.random.default_rng(0).permutation(1797)[0]
    expected = np.kron(np.rint(digits.images[first_test] * 255 / 16), np.ones((4, 4)))
    np.testing.assert_array_equal(parts["test"][0][0, 2], expected)
    assert parts["test"][1][0] == digits.target[first_test]
    note = cifar10_identity(f"cifar10:{tmp_path / 'd'}")["note"]
    assert note.startswith("scikit-learn digits stand-in (not CIFAR-10)")
    with pytest.raises(UsageError, match="holds CIFAR-10 files already"):
        digits_to_cifar10(tmp_path / "d")
    assert main([str(tmp_path / "d")]) == 2
    assert main([str(tmp_path / "d"), "--overwrite", "--n-test", "100"]) == 0
    assert cifar10_shards(f"cifar10:{tmp_path / 'd'}", 0, 1)[1].n_rows == 100
