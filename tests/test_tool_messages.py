"""One clear message, exit status 2, for the tools' bad input (issue 22, messages): the
digits stand-in's seed, CIFAR-10 folders, and the data identity a resume compares."""

from __future__ import annotations

import pytest

from crpsgd.cli import main


@pytest.mark.parametrize(
    "seed,expected", [("-1", "--seed=-1: must be >= 0"), (str(2**63), "--seed=9223372036854775808")]
)
def test_digits_seed_out_of_range_names_seed(tmp_path, capsys, seed, expected):
    assert main(["digits-cifar10", str(tmp_path / "d"), "--seed", seed]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "d").exists()
