"""Writes small random CIFAR-10 directories for the tests."""

from pathlib import Path

import numpy as np

from crpsgd.data.cifar10 import TEST_FILE, TRAIN_FILES, write_cifar10_binary


def write_random_cifar(root: Path, rows=(3, 4, 2, 5, 1), test_rows=4, seed=0) -> dict:
    """``root`` with five training files of ``rows`` records and a test file; returns the
    images and labels written, concatenated in file order."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for part, names, counts in (("train", TRAIN_FILES, rows), ("test", (TEST_FILE,), (test_rows,))):
        images, labels = [], []
        for name, k in zip(names, counts, strict=True):
            im = rng.integers(0, 256, size=(k, 3, 32, 32), dtype=np.uint8)
            lab = rng.integers(0, 10, size=k).astype(np.uint8)
            write_cifar10_binary(root / name, im, lab)
            images.append(im)
            labels.append(lab)
        out[part] = (np.concatenate(images), np.concatenate(labels))
    return out
