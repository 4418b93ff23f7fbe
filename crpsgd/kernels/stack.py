"""Scratch arrays on a compiled function's stack (not heap allocations)."""

from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["stack_buffer"]


@intrinsic
def stack_buffer(typingctx, dtype, size):
    """A pointer to ``size`` (a compile-time constant) elements of ``dtype`` on the calling
    function's stack, for ``numba.carray``: scratch space that is not a heap allocation."""
    if not isinstance(size, types.IntegerLiteral):
        return None

    def codegen(context, builder, signature, args):
        element = context.get_value_type(dtype.dtype)
        return cgutils.alloca_once(builder, element, size=size.literal_value)

    return types.CPointer(dtype.dtype)(dtype, size), codegen
