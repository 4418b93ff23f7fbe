"""MPI and BLAS calls from compiled (Numba nopython) code, for the compiled block of rounds.

Numba cannot call mpi4py, so the block (:mod:`crpsgd.kernels.round_block`) calls the C
functions themselves, by address:

* ``MPI_Allreduce(MPI_IN_PLACE, work, count, MPI_DOUBLE, MPI_SUM, comm)`` and
  ``MPI_Wtime()`` (wall-clock seconds) of the MPI library that mpi4py loaded (looked up
  through mpi4py's extension module, whose dependencies include that library);
* the BLAS ``ddot`` that NumPy's ``a @ b`` of two float64 vectors calls, so that a squared
  norm computed in the block is bit for bit the one NumPy computes (the noise estimate's
  ``||g_i||^2`` and ``||gbar||^2``). It is found among the symbols of NumPy's own BLAS
  and accepted only if it reproduces ``a @ a`` exactly on test vectors.

Handles come from mpi4py (``MPI._handleof``): ints in MPICH, pointers in Open MPI; their
width is ``MPI._sizeof(MPI.Comm)`` bytes, and the compiled call passes them at that width.
``MPI_IN_PLACE`` is ``int(MPI.IN_PLACE)``. :func:`native_mpi` returns None where any of
this is missing (the rounds then stay on the Python path).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np
from llvmlite import ir
from mpi4py import MPI
from numba import types
from numba.extending import intrinsic

_U64 = (1 << 64) - 1


@dataclass(frozen=True)
class NativeMPI:
    """Addresses and handles the compiled block needs (all as unsigned integers)."""

    allreduce: int  # address of MPI_Allreduce
    wtime: int  # address of MPI_Wtime
    in_place: int  # the value of MPI_IN_PLACE
    double: int  # MPI_DOUBLE
    op_sum: int  # MPI_SUM
    handle_bytes: int  # 4 (MPICH: int handles) or 8 (Open MPI: pointers)

    def comm_handle(self, comm: MPI.Comm) -> np.unsignedinteger:
        """``comm``'s handle as the unsigned integer of the handle's width."""
        kind = np.uint32 if self.handle_bytes == 4 else np.uint64
        return kind(MPI._handleof(comm) & ((1 << (8 * self.handle_bytes)) - 1))

    def handle(self, value: int) -> np.unsignedinteger:
        kind = np.uint32 if self.handle_bytes == 4 else np.uint64
        return kind(value)


def _address(lib: ctypes.CDLL, name: str) -> int | None:
    try:
        return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
    except AttributeError:
        return None


_NATIVE: list[NativeMPI | None] = []


def native_mpi() -> NativeMPI | None:
    """The MPI functions and handles, or None if they cannot be found (looked up once)."""
    if not _NATIVE:
        _NATIVE.append(_find_mpi())
    return _NATIVE[0]


def _find_mpi() -> NativeMPI | None:
    handle_bytes = MPI._sizeof(MPI.Comm)
    if handle_bytes not in (4, 8) or MPI._sizeof(MPI.Datatype) != handle_bytes:
        return None
    try:
        lib = ctypes.CDLL(MPI.__file__)
    except OSError:
        return None
    allreduce, wtime = _address(lib, "MPI_Allreduce"), _address(lib, "MPI_Wtime")
    if not allreduce or not wtime:
        return None
    try:  # an mpi4py without these: the rounds stay in Python
        in_place = int(MPI.IN_PLACE) & _U64
        double, op_sum = MPI._handleof(MPI.DOUBLE), MPI._handleof(MPI.SUM)
    except (AttributeError, TypeError, ValueError):
        return None
    return NativeMPI(allreduce, wtime, in_place, double, op_sum, handle_bytes)


# NumPy's BLAS: ILP64 builds (NumPy 2 wheels) first, then the plain LP64 name
_DDOT_NAMES = (
    ("scipy_cblas_ddot64_", True),
    ("cblas_ddot64_", True),
    ("cblas_ddot", False),
)
_DDOT: list[tuple[int, bool] | None] = []


def numpy_ddot() -> tuple[int, bool] | None:
    """``(address, ilp64)`` of the ``cblas_ddot`` behind NumPy's float64 ``a @ b``, checked
    against NumPy on test vectors, or None."""
    if not _DDOT:
        _DDOT.append(_find_ddot())
    return _DDOT[0]


def _find_ddot() -> tuple[int, bool] | None:
    from numpy._core import _multiarray_umath

    try:
        lib = ctypes.CDLL(_multiarray_umath.__file__)
    except OSError:
        return None
    for name, ilp64 in _DDOT_NAMES:
        address = _address(lib, name)
        if address and _ddot_matches(address, ilp64):
            return address, ilp64
    return None


def _ddot_matches(address: int, ilp64: bool) -> bool:
    """Whether the function at ``address`` gives NumPy's ``a @ a`` bit for bit."""
    from crpsgd.algorithms.round_block import sq_norm

    rng = np.random.default_rng(12345)
    for n in (1, 3, 7, 16, 33, 123, 300, 1001, 4099, 20011):
        a = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, size=n)
        if sq_norm(address, ilp64, a) != float(a @ a):
            return False
    return True


# ---------------------------------------------------------------- calls by address (intrinsics)


@intrinsic
def call_allreduce(typingctx, fn, send, recv, count, dtype, op, comm):
    """``int fn(void *send, void *recv, int count, handle dtype, handle op, handle comm)``;
    ``send`` and ``recv`` are addresses (uintp), the handles unsigned ints of their width."""
    sig = types.int32(fn, send, recv, count, dtype, op, comm)

    def codegen(context, builder, signature, args):
        void_p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        handle_types = [context.get_value_type(t) for t in signature.args[4:]]
        fnty = ir.FunctionType(i32, [void_p, void_p, i32, *handle_types])
        ptr = builder.inttoptr(args[0], fnty.as_pointer())
        count32 = builder.trunc(args[3], i32) if args[3].type.width > 32 else args[3]
        return builder.call(
            ptr,
            [builder.inttoptr(args[1], void_p), builder.inttoptr(args[2], void_p), count32]
            + list(args[4:]),
        )

    return sig, codegen


@intrinsic
def call_wtime(typingctx, fn):
    """``double fn(void)``: MPI_Wtime."""
    sig = types.float64(fn)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.DoubleType(), [])
        return builder.call(builder.inttoptr(args[0], fnty.as_pointer()), [])

    return sig, codegen


@intrinsic
def call_ddot(typingctx, fn, n, x, y, ilp64):
    """``double fn(n, double *x, 1, double *y, 1)``; ``ilp64`` must be a literal bool: the
    integer arguments are 64-bit if true, else 32-bit."""
    if not isinstance(ilp64, types.BooleanLiteral):
        return None
    sig = types.float64(fn, n, x, y, ilp64)
    wide = ilp64.literal_value

    def codegen(context, builder, signature, args):
        dbl_p = ir.DoubleType().as_pointer()
        it = ir.IntType(64 if wide else 32)
        fnty = ir.FunctionType(ir.DoubleType(), [it, dbl_p, it, dbl_p, it])
        nn = args[1]
        if nn.type.width > it.width:
            nn = builder.trunc(nn, it)
        elif nn.type.width < it.width:
            nn = builder.sext(nn, it)
        one = ir.Constant(it, 1)
        return builder.call(
            builder.inttoptr(args[0], fnty.as_pointer()),
            [nn, builder.inttoptr(args[2], dbl_p), one, builder.inttoptr(args[3], dbl_p), one],
        )

    return sig, codegen
