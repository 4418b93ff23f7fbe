"""The round buffer's pass after the Allreduce, compiled.

A round sends ``work = [buf, stop]`` (the vector and one control slot) and turns the sum over
ranks back into the mean, checks it is finite and reads the control slot: one pass over ``n``
values that costs more as four NumPy calls (a slice, a temporary for the finiteness check)
than it computes at small ``n``.
"""

import numba
import numpy as np

_JIT = {"cache": True, "nogil": True}


@numba.njit(**_JIT)
def unpack_mean(work: np.ndarray, size: float, buf: np.ndarray) -> tuple[bool, bool]:
    """``buf <- work[:n] / size`` (IEEE division, as ``np.divide``); returns whether every
    value of ``buf`` is finite and whether the control slot ``work[n]`` is positive."""
    n = buf.size
    finite = True
    for i in range(n):
        v = work[i] / size
        buf[i] = v
        if not np.isfinite(v):
            finite = False
    return finite, work[n] > 0.0
