"""The ranks start from the same parameters: one check before the first round (and at each
resume) that every rank's problem has the same dimension and the same initial point.

A build that draws its initial values from an unseeded stream (numpy's global generator,
``random``, the time) gives every rank a different model; the rounds would average
gradients of different models and the run would end at a wrong objective, in silence. The
check costs two small set-up collectives (a dimension and a 64-bit hash of the initial
point; counted neither as rounds nor as evaluation collectives), nothing in the rounds.
"""

from __future__ import annotations

import hashlib

import numpy as np

from crpsgd.comm.communicator import Communicator
from crpsgd.errors import UsageError


def vector_hash(x: np.ndarray) -> int:
    """A signed 64-bit hash of the bytes of ``x`` (its dtype and values, bit for bit)."""
    data = np.ascontiguousarray(x)
    digest = hashlib.blake2b(data.dtype.str.encode() + data.tobytes(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def check_same_start(comm: Communicator, x0: np.ndarray, origin: str) -> None:
    """Raise the same :class:`UsageError` on every rank unless every rank holds an ``x0`` of
    the same length and bytes; ``origin`` names what built the problem (``--model=m:f``)."""
    if not comm.same_on_all_ranks(int(x0.size), counted=False):
        sizes = comm.bcast(comm.gather(int(x0.size)))
        raise UsageError(
            f"{origin}: the ranks built models of different sizes (parameters on ranks 0.."
            f"{len(sizes) - 1}: {', '.join(map(str, sizes))}); every rank must build the "
            "same model"
        )
    if not comm.same_on_all_ranks(vector_hash(x0), counted=False):
        raise UsageError(
            f"{origin}: the ranks' initial parameters differ (their hashes are not equal): "
            "every rank must build the same model; draw random initial values from torch's "
            "generator, which crpsgd seeds from --seed before the build, not from numpy's or "
            "another unseeded stream"
        )
