"""Contiguous row shards: rank ``r`` of ``N`` owns rows ``[start, stop)``."""


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
