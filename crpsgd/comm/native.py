"""MPI calls from compiled (Numba nopython) code, for the compiled block of rounds.

Numba cannot call mpi4py, so the block (:mod:`crpsgd.kernels.round_block`) calls the C
functions themselves, by address:

* ``MPI_Allreduce(MPI_IN_PLACE, work, count, MPI_DOUBLE, MPI_SUM, comm)`` and
  ``MPI_Wtime()`` (wall-clock seconds) of the MPI library that mpi4py loaded (looked up
  through mpi4py's extension module, whose dependencies include that library).

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


def round_handles(comm: MPI.Comm) -> tuple[np.ndarray, tuple] | None:
    """The addresses and handles a compiled Allreduce-mean on ``comm`` needs (see
    :meth:`crpsgd.comm.communicator.Communicator.native_handles`), or None."""
    native = native_mpi()
    if native is None:
        return None
    handles = (
        native.comm_handle(comm),
        native.handle(native.double),
        native.handle(native.op_sum),
    )
    mpi = np.array([native.allreduce, native.wtime, native.in_place], dtype=np.uint64)
    return mpi, handles


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
