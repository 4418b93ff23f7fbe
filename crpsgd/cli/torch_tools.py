"""``crpsgd digits-cifar10 DIR``: write scikit-learn's digits as a ``cifar10:DIR`` stand-in.

The 1,797 8x8 grey digits (shipped inside scikit-learn), upsampled 4x4 to 32x32 and copied
into the three channels, split into a training part (``data_batch_1..5.bin``) and a held-out
test part (``test_batch.bin``, ``--n-test`` images) in the official CIFAR-10 binary format,
with ``SOURCE.txt`` saying what they are; every run log on them carries that note
(``data_note``) and every table and figure shows it (:mod:`crpsgd.data.digits`). For the
torch problem where CIFAR-10 is absent; no torch is needed to write the files.
"""

from __future__ import annotations

import argparse
from typing import Any

COMMAND = "digits-cifar10"


def add_parser(sub: Any) -> None:
    """The sub-command's parser on ``crpsgd``'s sub-parsers."""
    p = sub.add_parser(
        COMMAND, help="write scikit-learn's digits as a cifar10:DIR stand-in (not CIFAR-10)"
    )
    p.add_argument("out_dir", metavar="DIR", help="directory to write the CIFAR-10 files into")
    p.add_argument("--n-test", type=int, default=297, help="held-out test images [default: 297]")
    p.add_argument("--seed", type=int, default=0, help="seed of the train/test split [default: 0]")
    p.add_argument("--overwrite", action="store_true", help="replace CIFAR-10 files in DIR")


def main(args: argparse.Namespace) -> None:
    """Write the files; a bad argument is one :class:`~crpsgd.errors.UsageError`."""
    from crpsgd.data.digits import digits_to_cifar10
    from crpsgd.errors import UsageError
    from crpsgd.params import convert
    from crpsgd.registry.config import PARAMS_BY_NAME

    if args.n_test < 1:
        raise UsageError(f"--n-test={args.n_test}: must be >= 1")
    convert(PARAMS_BY_NAME["seed"], args.seed, "command line")  # run's --seed rule: 0..2^63-1
    info = digits_to_cifar10(args.out_dir, args.n_test, args.seed, args.overwrite)
    print(
        f"{info['path']}: {info['train_rows']} training, {info['test_rows']} test images; "
        f"--data cifar10:{info['path']} ({info['note']})"
    )
