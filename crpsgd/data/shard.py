"""Contiguous row shards: rank ``r`` of ``N`` owns rows ``[start, stop)``."""

from __future__ import annotations

from crpsgd.data.dataset import Dataset
from crpsgd.errors import UsageError


def shard_bounds(n_rows: int, rank: int, size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of rank ``rank`` among ``size`` ranks.

    The first ``n_rows % size`` ranks get one row more, so shard lengths differ by at most one
    and every row belongs to exactly one rank.
    """
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"rank {rank} is not in 0..{size - 1}")
    base, extra = divmod(n_rows, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def check_ranks(n_rows: int, size: int, source: str) -> None:
    """Every rank needs at least one row of ``source``."""
    if size > n_rows:
        raise UsageError(f"{size} ranks but only {n_rows} rows in {source}")


def copy_rows(ds: Dataset, start: int, stop: int) -> Dataset:
    """Rows ``[start, stop)`` as arrays of their own, so the whole set can be freed."""
    part = ds.rows(start, stop)
    if not part.is_sparse:
        return Dataset(part.y.copy(), part.n_features, dense=part.dense.copy())
    return Dataset(
        part.y.copy(),
        part.n_features,
        indptr=part.indptr.copy(),
        indices=part.indices.copy(),
        data=part.data.copy(),
    )
