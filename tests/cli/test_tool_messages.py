"""One clear message, exit status 2, for the tools' bad input (issue 22, messages): the
digits stand-in's seed, CIFAR-10 folders, and the data identity a resume compares."""

from __future__ import annotations

import os

import pytest

from crpsgd.cli.app import main
from crpsgd.errors import DataFormatError, UsageError
from crpsgd.files.paths import check_input, check_output
from tests.cifar_files import write_random_cifar


@pytest.mark.parametrize(
    "seed,expected", [("-1", "--seed=-1: must be >= 0"), (str(2**63), "--seed=9223372036854775808")]
)
def test_digits_seed_out_of_range_names_seed(tmp_path, capsys, seed, expected):
    assert main(["digits-cifar10", str(tmp_path / "d"), "--seed", seed]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "d").exists()


# ------------------------------------------------------------------ CIFAR-10 folders


def test_cifar10_folder_needs_no_test_batch_when_test_data_is_given(tmp_path):
    from crpsgd.data.cifar10 import cifar10_identity
    from crpsgd.data.images import cifar10_shards

    train, test = tmp_path / "train", tmp_path / "test"
    for folder in (train, test):
        folder.mkdir()
        write_random_cifar(folder, rows=(2, 2, 2, 2, 2), test_rows=3)
    (train / "test_batch.bin").unlink()
    for name in os.listdir(test):
        if name != "test_batch.bin":
            (test / name).unlink()
    got, held_out = cifar10_shards(f"cifar10:{train}", 0, 1, test_source=f"cifar10:{test}")
    assert got.n_total == 10 and held_out.n_total == 3
    _, alone = cifar10_shards(f"cifar10:{train}", 0, 1, test_source=str(test / "test_batch.bin"))
    assert alone.n_total == 3
    assert (
        cifar10_identity(f"cifar10:{train}")["sha256"]
        != cifar10_identity(f"cifar10:{test}")["sha256"]
    )
    with pytest.raises(DataFormatError, match=r"test_batch.bin: no such file \(needed by --data"):
        cifar10_shards(f"cifar10:{train}", 0, 1)


def test_a_source_note_that_is_not_utf8_is_one_message_naming_it(tmp_path):
    from crpsgd.data.cifar10 import cifar10_identity

    write_random_cifar(tmp_path, rows=(2, 2, 2, 2, 2), test_rows=3)
    (tmp_path / "SOURCE.txt").write_bytes(b"\xff\xfe digits\n")
    with pytest.raises(DataFormatError, match=r"SOURCE.txt: not UTF-8 text"):
        cifar10_identity(f"cifar10:{tmp_path}")


def test_resume_takes_the_same_folder_however_spelled(tmp_path, monkeypatch):
    from crpsgd.data.loader import same_source
    from crpsgd.session.resume_check import check_resume_flags

    (tmp_path / "digits").mkdir()
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path)
    config = {"data": "cifar10:./digits"}
    for spelling in ("cifar10:digits", f"cifar10:{tmp_path}/digits", "cifar10:digits/"):
        check_resume_flags({"resume": "r.ckpt.h5", "data": spelling}, config)
    with pytest.raises(UsageError, match="--data cannot be changed"):
        check_resume_flags({"resume": "r.ckpt.h5", "data": "cifar10:other"}, config)
    assert not same_source("cifar10:digits", "digits")
    assert same_source("synthetic", "synthetic:") and not same_source("synthetic:n=5", "synthetic")


# ------------------------------------------------------------------ names that are not UTF-8


def test_names_that_are_not_utf8_are_one_message_naming_them(tmp_path, capsys):
    bad = os.fsdecode(b"\xfe.svm")
    (tmp_path / bad).write_text("1 1:1\n-1 2:1\n")
    good = tmp_path / "in.svm"
    good.write_text("1 1:1\n-1 2:1\n")
    cases = [
        (["convert", str(tmp_path / bad), str(tmp_path / "o.h5")], "IN="),
        (["convert", str(good), str(tmp_path / os.fsdecode(b"\xfd.h5"))], ""),
    ]
    for args, flag in cases:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "the name is not UTF-8 text" in err, err
        assert f"{flag}{tmp_path}/\\x" in err, err
    assert sorted(os.listdir(tmp_path)) == sorted([bad, "in.svm"])
    with pytest.raises(UsageError, match=r"--data=.*\\xfe.svm: the name is not UTF-8"):
        check_input("--data", tmp_path / bad)
    with pytest.raises(UsageError, match=r"--out=.*\\xfd.h5: the name is not UTF-8"):
        check_output("--out", tmp_path / os.fsdecode(b"\xfd.h5"))
