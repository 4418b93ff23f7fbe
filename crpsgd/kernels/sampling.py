"""Sorted i.i.d. row draws in compiled code, identical to ``rng.integers(0, n, size=b)`` + sort.

``Generator.integers`` costs a few microseconds per call in argument handling alone, more than
a whole small-batch round should. :func:`draw_sorted` produces exactly the same numbers from
the same stream: it calls the bit generator's own C function ``next_uint32`` (NumPy's
``bit_generator.ctypes`` interface) on its state, as ``integers`` does for a range
``n - 1 < 2^32 - 1``, with the same rejection rule (Lemire's multiply-shift method, NumPy's
``buffered_bounded_lemire_uint32``): draw ``u``, ``m = u * n``; accept ``m >> 32`` unless the
low word of ``m`` is below ``(2^32 - n) mod n``. So the generator's state afterwards is the
one ``integers`` leaves, and every later draw is unchanged.
"""

from __future__ import annotations

import ctypes

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_JIT = {"cache": True, "nogil": True}
_U32_MAX = np.uint64(0xFFFFFFFF)


@intrinsic
def _next_uint32(typingctx, fn_address, state_address):
    """``fn(state)`` for the C function ``uint32_t fn(void *)`` at ``fn_address``."""
    sig = types.uint32(types.uintp, types.uintp)

    def codegen(context, builder, signature, args):
        void_p = ir.IntType(8).as_pointer()
        fn_type = ir.FunctionType(ir.IntType(32), [void_p])
        fn = builder.inttoptr(args[0], fn_type.as_pointer())
        return builder.call(fn, [builder.inttoptr(args[1], void_p)])

    return sig, codegen


@numba.njit(**_JIT)
def _draw(fn_address: int, state_address: int, n: int, out: np.ndarray) -> None:
    excl = np.uint64(n)  # n - 1 < 2^32 - 1: as in NumPy, all in 32-bit words
    threshold = (_U32_MAX - (excl - np.uint64(1))) % excl
    for i in range(out.size):
        m = np.uint64(_next_uint32(fn_address, state_address)) * excl
        low = m & _U32_MAX
        if low < excl:
            while low < threshold:
                m = np.uint64(_next_uint32(fn_address, state_address)) * excl
                low = m & _U32_MAX
        out[i] = np.int64(m >> np.uint64(32))


@numba.njit(**_JIT)
def radix_sort(a: np.ndarray, work: np.ndarray, n: int) -> None:
    """Sort ``a`` (int64 values in ``0 .. n-1``) in place: least-significant-digit radix
    sort in passes of at most 11 bits, ``work`` (as large as ``a``) the scratch buffer."""
    bits = 1
    while (1 << bits) < n:
        bits += 1
    passes = (bits + 10) // 11
    width = (bits + passes - 1) // passes
    mask = (1 << width) - 1
    count = np.empty((1 << width) + 1, np.int64)
    src, dst = a, work
    shift = 0
    for _ in range(passes):
        count[:] = 0
        for i in range(src.size):
            count[((src[i] >> shift) & mask) + 1] += 1
        for k in range(1, count.size):
            count[k] += count[k - 1]
        for i in range(src.size):
            digit = (src[i] >> shift) & mask
            dst[count[digit]] = src[i]
            count[digit] += 1
        src, dst = dst, src
        shift += width
    if passes % 2 == 1:
        a[:] = work


_RADIX_MIN = 256  # below, NumPy's sort is the faster one (measured: 0.7 against 1.5 us at 64)
_NEXT_UINT32: dict[type, int] = {}  # the C function's address, per bit-generator type


def draw_sorted(rng: np.random.Generator, n: int, batch: int) -> np.ndarray:
    """``batch`` draws from ``0 .. n-1`` with replacement, sorted (int64): the numbers and
    the generator's state afterwards are those of ``rng.integers(0, n, size=batch,
    dtype=np.int64)`` (a range ``n - 1`` of 32 bits or more, or ``n < 2``, goes there)."""
    if not 2 <= n < 0xFFFFFFFF + 1 or batch < 0:
        idx = rng.integers(0, n, size=batch, dtype=np.int64)
        idx.sort()
        return idx
    bitgen = rng.bit_generator
    interface = bitgen.ctypes
    fn = _NEXT_UINT32.get(type(bitgen))
    if fn is None:
        fn = _NEXT_UINT32[type(bitgen)] = ctypes.cast(interface.next_uint32, ctypes.c_void_p).value
    out = np.empty(batch, dtype=np.int64)
    _draw(fn, interface.state_address, n, out)
    if batch >= _RADIX_MIN:
        radix_sort(out, np.empty_like(out), n)  # 2x NumPy's sort at B = 1000 .. 4096
    else:
        out.sort()  # Numba's own sort is slower than NumPy's at every size measured
    return out
