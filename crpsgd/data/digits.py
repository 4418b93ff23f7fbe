"""A real small image set in the CIFAR-10 binary format, for machines without CIFAR-10.

scikit-learn ships the UCI optical digits (1,797 grey 8 x 8 images of the digits 0..9,
pixel values 0..16) inside the package. :func:`digits_to_cifar10` writes them once as a
``cifar10:DIR`` directory that the CIFAR-10 pipeline reads unchanged:

- each image is upsampled to 32 x 32 by repeating every pixel in a 4 x 4 block (nearest
  neighbour), scaled to bytes as ``round(v * 255 / 16)``, and copied into the three colour
  channels (grey: R = G = B);
- a random permutation from ``seed`` puts ``n_test`` images (default 297, about 1/6) into
  ``test_batch.bin`` and splits the other 1,500 into ``data_batch_1.bin`` ...
  ``data_batch_5.bin`` of 300 images each;
- ``SOURCE.txt`` says so, and the run log carries it (``data_note``): figures made on these
  files must say they ran on the digits stand-in, not on CIFAR-10.

Command line (the lead registers it as ``crpsgd convert --to cifar10``):
``python -m crpsgd.data.digits OUT_DIR [--n-test 297] [--seed 0] [--overwrite]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from crpsgd.data.cifar10 import SOURCE_NOTE, TEST_FILE, TRAIN_FILES, write_cifar10_binary
from crpsgd.errors import UsageError
from crpsgd.files.atomic_write import AtomicFiles

DIGITS_ROWS = 1797


def digits_images(n_test: int = 297, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (images, labels), "test": (images, labels)}``: uint8 ``(k, 3, 32, 32)``
    images and uint8 labels of scikit-learn's digits, converted as the module says."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise UsageError(
            "the digits stand-in needs scikit-learn: pip install 'crpsgd[test]'"
        ) from None
    if not 0 < n_test < DIGITS_ROWS - len(TRAIN_FILES):
        raise UsageError(f"--n-test={n_test}: must be in 1..{DIGITS_ROWS - len(TRAIN_FILES) - 1}")
    digits = load_digits()
    small = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)  # (n, 8, 8)
    big = np.kron(small, np.ones((1, 4, 4), dtype=np.uint8))  # (n, 32, 32)
    images = np.repeat(big[:, None, :, :], 3, axis=1)
    labels = digits.target.astype(np.uint8)
    order = np.random.default_rng(seed).permutation(labels.size)
    test, train = order[:n_test], order[n_test:]
    return {"train": (images[train], labels[train]), "test": (images[test], labels[test])}


def digits_to_cifar10(
    out_dir: str | os.PathLike, n_test: int = 297, seed: int = 0, overwrite: bool = False
) -> dict[str, object]:
    """Write the digits stand-in into ``out_dir`` as CIFAR-10 binary files (see the module).

    Returns ``{"path", "train_rows", "test_rows", "note"}``. An existing CIFAR-10 file in
    ``out_dir`` is a :class:`UsageError` unless ``overwrite``. Every file is written to a
    temporary name and renamed at the end; a file that is a symbolic link (into a real
    CIFAR-10 folder, say), a FIFO or a directory is refused, never written through.
    """
    out = Path(out_dir)
    names = (*TRAIN_FILES, TEST_FILE)
    if not overwrite and any(os.path.lexists(out / name) for name in names):
        raise UsageError(f"{out}: holds CIFAR-10 files already (pass --overwrite to replace)")
    parts = digits_images(n_test, seed)
    images, labels = parts["train"]
    note = (
        f"scikit-learn digits stand-in (not CIFAR-10): {labels.size} training and "
        f"{parts['test'][1].size} test images of 8x8 grey digits upsampled 4x4 to 32x32, "
        f"grey in all three channels, split with seed {seed}"
    )
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a directory")
    with AtomicFiles() as files:  # links into a real CIFAR-10 folder are refused, not followed
        temps = {name: files.temp(out / name, str(out / name)) for name in (*names, SOURCE_NOTE)}
        for name, rows in zip(TRAIN_FILES, np.array_split(np.arange(labels.size), 5), strict=True):
            write_cifar10_binary(temps[name], images[rows], labels[rows])
        write_cifar10_binary(temps[TEST_FILE], *parts["test"])
        temps[SOURCE_NOTE].write_text(note + "\n", encoding="utf-8")
    return {
        "path": str(out),
        "train_rows": int(labels.size),
        "test_rows": int(parts["test"][1].size),
        "note": note,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crpsgd.data.digits",
        description="Write scikit-learn's digits as a cifar10:DIR stand-in data set.",
    )
    parser.add_argument("out_dir")
    parser.add_argument("--n-test", type=int, default=297)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        info = digits_to_cifar10(args.out_dir, args.n_test, args.seed, args.overwrite)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{info['path']}: {info['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
