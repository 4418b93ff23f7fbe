"""The lane sum of :mod:`crpsgd.kernels.fixed_order`, written as LLVM vector IR.

``LANES = 8`` partial sums live in one ``<8 x double>`` value: each step adds the elementwise
product of the next eight terms with a fused multiply-add (``s <- fma(a, b, s)``: the product
and the sum rounded once), then the lanes are combined as
``((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))`` and the remaining ``n mod 8`` terms are
added one by one, each by a fused multiply-add too. LLVM lowers an ``<8 x double>`` operation
to one AVX-512 instruction, two AVX2 or four SSE2 ones; every lane is computed alike on each,
and the operations carry no fast-math flag, so the IR fixes the order and the rounding.
``llvm.fma`` is IEEE's fused multiply-add, exactly rounded by definition: one ``vfmadd``
instruction on processors that have it (x86-64 since Haswell and Piledriver), the C library's
``fma`` (exact, in software, slower) on those that do not; the same bits on both. (Numba's
scalar code would leave these sums unvectorised: the eight accumulators of a loop are not
packed into vector registers without ``reassoc``.)

The intrinsics take addresses (``array.ctypes.data``) of contiguous float64 data.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["LANES", "fma", "lane_dot_at", "lane_dots8_at"]

LANES = 8
_F64 = ir.DoubleType()
_VEC = ir.VectorType(_F64, LANES)
_I64 = ir.IntType(64)


def _fma(builder, a, b, c):
    """``a b + c`` rounded once (``llvm.fma`` on doubles or on ``<8 x double>``)."""
    name = "llvm.fma.v8f64" if isinstance(a.type, ir.VectorType) else "llvm.fma.f64"
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(a.type, [a.type] * 3), name)
    return builder.call(fn, [a, b, c])


@intrinsic
def fma(typingctx, a, b, c):
    """``a b + c`` rounded once, for float64 scalars (see the module docstring)."""
    if not all(isinstance(t, types.Float) for t in (a, b, c)):
        return None

    def codegen(context, builder, signature, args):
        return _fma(
            builder,
            *(
                context.cast(builder, v, t, types.float64)
                for v, t in zip(args, signature.args, strict=True)
            ),
        )

    return types.float64(types.float64, types.float64, types.float64), codegen


def _doubles(builder, address):
    return builder.inttoptr(address, _F64.as_pointer())


def _load_lanes(builder, base, j):
    return builder.load(builder.bitcast(builder.gep(base, [j]), _VEC.as_pointer()), align=8)


def _combine(builder, acc):
    e = [builder.extract_element(acc, ir.Constant(ir.IntType(32), k)) for k in range(LANES)]
    low = builder.fadd(builder.fadd(e[0], e[1]), builder.fadd(e[2], e[3]))
    high = builder.fadd(builder.fadd(e[4], e[5]), builder.fadd(e[6], e[7]))
    return builder.fadd(low, high)


def _full(builder, n):
    return builder.sub(n, builder.srem(n, ir.Constant(_I64, LANES)))


def _as_i64(builder, value):
    return builder.sext(value, _I64) if value.type.width < 64 else value


@intrinsic
def lane_dot_at(typingctx, a, b, n):
    """``sum_{j < n} a[j] b[j]`` in the lane order; ``a``, ``b``: addresses of float64 data."""
    if not all(isinstance(t, types.Integer) for t in (a, b, n)):
        return None

    def codegen(context, builder, signature, args):
        pa, pb = _doubles(builder, args[0]), _doubles(builder, args[1])
        n64 = _as_i64(builder, args[2])
        full = _full(builder, n64)
        acc = cgutils.alloca_once_value(builder, ir.Constant(_VEC, None))
        step, one = ir.Constant(_I64, LANES), ir.Constant(_I64, 1)
        with cgutils.for_range_slice(builder, ir.Constant(_I64, 0), full, step, _I64) as (j, _):
            va, vb = _load_lanes(builder, pa, j), _load_lanes(builder, pb, j)
            builder.store(_fma(builder, va, vb, builder.load(acc)), acc)
        total = cgutils.alloca_once_value(builder, _combine(builder, builder.load(acc)))
        with cgutils.for_range_slice(builder, full, n64, one, _I64) as (j, _):
            va = builder.load(builder.gep(pa, [j]))
            vb = builder.load(builder.gep(pb, [j]))
            builder.store(_fma(builder, va, vb, builder.load(total)), total)
        return builder.load(total)

    return types.float64(a, b, n), codegen


@intrinsic
def lane_dots8_at(typingctx, base, row_bytes, rows, x, d, out):
    """``out[r] = row_r . x`` for the 8 rows ``row_r = base + rows[r] * row_bytes`` (each ``d``
    float64), in one pass over the columns (each chunk of ``x`` loaded once for all eight),
    each sum in the lane order. ``rows`` (int64), ``x`` and ``out``: addresses."""
    if not all(isinstance(t, types.Integer) for t in (base, row_bytes, rows, x, d, out)):
        return None

    def codegen(context, builder, signature, args):
        base_, row_bytes_, rows_, x_, d_, out_ = (_as_i64(builder, v) for v in args)
        row_numbers = builder.inttoptr(rows_, _I64.as_pointer())
        starts = []
        for r in range(8):
            number = builder.load(builder.gep(row_numbers, [ir.Constant(_I64, r)]))
            starts.append(_doubles(builder, builder.add(base_, builder.mul(number, row_bytes_))))
        px = _doubles(builder, x_)
        full = _full(builder, d_)
        accs = [cgutils.alloca_once_value(builder, ir.Constant(_VEC, None)) for _ in range(8)]
        step, one = ir.Constant(_I64, LANES), ir.Constant(_I64, 1)
        with cgutils.for_range_slice(builder, ir.Constant(_I64, 0), full, step, _I64) as (j, _):
            vx = _load_lanes(builder, px, j)
            for start, acc in zip(starts, accs, strict=True):
                va = _load_lanes(builder, start, j)
                builder.store(_fma(builder, va, vx, builder.load(acc)), acc)
        totals = [
            cgutils.alloca_once_value(builder, _combine(builder, builder.load(acc))) for acc in accs
        ]
        with cgutils.for_range_slice(builder, full, d_, one, _I64) as (j, _):
            xj = builder.load(builder.gep(px, [j]))
            for start, total in zip(starts, totals, strict=True):
                va = builder.load(builder.gep(start, [j]))
                builder.store(_fma(builder, va, xj, builder.load(total)), total)
        po = _doubles(builder, out_)
        for r, total in enumerate(totals):
            builder.store(builder.load(total), builder.gep(po, [ir.Constant(_I64, r)]))
        return context.get_dummy_value()

    return types.void(base, row_bytes, rows, x, d, out), codegen
