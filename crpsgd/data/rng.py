"""Per-rank random streams from one seed.

Rank ``i`` draws from ``Generator(PCG64(SeedSequence(seed).spawn(i + 1)[i]))``: the child
seed of rank ``i`` depends only on ``seed`` and ``i``, not on the number of ranks, so a serial
recomputation can rebuild every worker's stream.
"""

import numpy as np

from crpsgd.kernels.sampling import draw_sorted


def worker_rng(seed: int, rank: int) -> np.random.Generator:
    """The independent random stream of worker ``rank`` for the run seeded with ``seed``."""
    child = np.random.SeedSequence(seed, spawn_key=(rank,))
    return np.random.Generator(np.random.PCG64(child))


def sample_indices(rng: np.random.Generator, n_local: int, batch: int) -> np.ndarray:
    """``batch`` local row numbers drawn i.i.d. uniformly with replacement, sorted (int64).

    The numbers (and the stream's state afterwards) are exactly those of
    ``np.sort(rng.integers(0, n_local, size=batch, dtype=np.int64))``, drawn in compiled code
    (:func:`crpsgd.kernels.sampling.draw_sorted`), which saves ``integers``' call overhead.
    """
    return draw_sorted(rng, n_local, batch)
