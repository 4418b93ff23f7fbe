"""Throughput of the logistic-regression minibatch-gradient kernels (samples/s).

Run from the repository root (``make bench-kernels``)::

    python -m bench kernels --out bench/results/kernels.json [--repeats 7] [--data PATH]

1. Dense, synthetic ``n x d`` float64: the Numba kernel against
   - a vectorised NumPy gradient (``A = X[idx]; m = y[idx] * (A @ x); ...; A.T @ coef / B``),
   - a sequential read of the same number of bytes (a Numba sum over ``B`` contiguous rows),
   - a vectorised NumPy gradient that, like the kernel, computes a row drawn ``k`` times once
     with weight ``k`` (``np.unique(idx, return_counts=True)``): how much of the kernel's lead
     at large ``B`` comes from skipping repeats rather than from compiled code,
   - a read of exactly the sampled rows (a plain Numba sum over ``X[idx]``): what the access
     pattern itself costs before any arithmetic,
   - the same read of the distinct sampled rows with the kernel's prefetch hints: the fastest
     read of those bytes we have, the bound of a kernel that must touch every sampled row.
2. CSR, a9a (LIBSVM, read with scikit-learn here only): the Numba kernel against the same
   formula on a SciPy CSR matrix, plain and with repeats once. Skipped, with the reason,
   when the file is absent.

Every call uses a fresh sorted draw of ``B`` row numbers with replacement (the sequential read
a fresh random block), so the data come from memory, as in training. Each of ``--repeats``
rounds times every method once in turn; the table shows medians (the machine is shared and
noisy), ratios are medians of same-round ratios, and the JSON keeps every round. The kernels
are single-threaded; the NumPy/SciPy references get ``--blas-threads`` BLAS threads (1 by
default; the thread pools found are recorded).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse

from bench.benchinfo import write_result
from bench.kernel_refs import (
    numpy_grad,
    numpy_grad_repeats_once,
    read_rows,
    read_sampled_rows,
    read_sampled_rows_prefetched,
)
from bench.kernel_rows import print_csr_row, print_dense_row
from bench.kernel_timing import (
    blas_threads,
    machine_info,
    measure,
    n_calls_for,
    paired_ratio,
    sorted_batches,
)
from crpsgd.kernels.logistic import (
    logistic_minibatch_grad_csr,
    logistic_minibatch_grad_dense,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "a9a"
LAM = 1e-4
TARGETS = {"dense_over_read_seq": 0.70, "dense_over_numpy": 5.0, "csr_over_scipy": 2.0}


def bench_dense(
    n: int, dims: list[int], batches: list[int], repeats: int, rows_per_repeat: int, seed: int
) -> list[dict]:
    rng = np.random.default_rng(seed)
    results = []
    for d in dims:
        X = rng.standard_normal((n, d))
        y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        x = rng.standard_normal(d) / math.sqrt(d)
        out = np.empty(d)
        for batch in batches:
            n_calls = n_calls_for(batch, rows_per_repeat)
            idx = sorted_batches(rng, n, batch, n_calls)
            starts = rng.integers(0, n - batch + 1, size=n_calls)
            kernel_calls = [(X, y, x, i, LAM, out) for i in idx]
            row = {"n": n, "d": d, "batch": batch}
            row |= measure(
                {
                    "numba": (logistic_minibatch_grad_dense, kernel_calls, 8 * d),
                    # NumPy is slower: 1/8 of the calls (rates are per sample)
                    "numpy": (numpy_grad, [c[:5] for c in kernel_calls[::8]], 8 * d),
                    "numpy_repeats_once": (
                        numpy_grad_repeats_once,
                        [c[:5] for c in kernel_calls[::8]],
                        8 * d,
                    ),
                    "read_seq": (read_rows, [(X, s, s + batch) for s in starts], 8 * d),
                    "read_sampled": (read_sampled_rows, [(X, i) for i in idx], 8 * d),
                    "read_sampled_prefetched": (
                        read_sampled_rows_prefetched,
                        [(X, i) for i in idx],
                        8 * d,
                    ),
                },
                repeats,
                batch,
            )
            refs = ("numpy", "numpy_repeats_once", "read_seq", "read_sampled")
            for ref in (*refs, "read_sampled_prefetched"):
                row[f"numba_over_{ref}"] = paired_ratio(row, "numba", ref)
            results.append(row)
            print_dense_row(row)
    return results


def load_a9a(path: Path):
    """a9a as a SciPy CSR matrix and the kernel's raw arrays (indptr int64, indices int32)."""
    from sklearn.datasets import load_svmlight_file

    Xs, y = load_svmlight_file(str(path), n_features=123)
    Xs = scipy.sparse.csr_matrix(Xs, dtype=np.float64)
    Xs.sort_indices()
    y = np.where(y > 0, 1.0, -1.0)
    return Xs, Xs.indptr.astype(np.int64), Xs.indices.astype(np.int32), Xs.data, y


def bench_csr(
    path: Path, batches: list[int], repeats: int, rows_per_repeat: int, seed: int
) -> dict:
    if not path.is_file():
        reason = f"data file {path} not found (pass --data)"
        print(f"CSR: skipped, {reason}")
        return {"skipped": reason}
    rng = np.random.default_rng(seed + 1)
    Xs, indptr, indices, data, y = load_a9a(path)
    n, d = Xs.shape
    x = rng.standard_normal(d) / math.sqrt(d)
    out = np.empty(d)
    rows = []
    for batch in batches:
        idx = sorted_batches(rng, n, batch, n_calls_for(batch, rows_per_repeat))
        kernel_calls = [(indptr, indices, data, y, x, i, LAM, out) for i in idx]
        row = {"batch": batch}
        row |= measure(
            {
                "numba": (logistic_minibatch_grad_csr, kernel_calls, None),
                "scipy": (numpy_grad, [(Xs, y, x, i, LAM) for i in idx[::8]], None),
                "scipy_repeats_once": (
                    numpy_grad_repeats_once,
                    [(Xs, y, x, i, LAM) for i in idx[::8]],
                    None,
                ),
            },
            repeats,
            batch,
        )
        row["numba_over_scipy"] = paired_ratio(row, "numba", "scipy")
        row["numba_over_scipy_repeats_once"] = paired_ratio(row, "numba", "scipy_repeats_once")
        rows.append(row)
        print_csr_row(row)
    # relative to the repository: the results name no path of the measuring machine
    shown = os.path.relpath(path.resolve(), REPO)
    return {"path": shown, "n": n, "d": d, "nnz": int(Xs.nnz), "rows": rows}


# --------------------------------------------------------------------------- reporting


def check_targets(dense: list[dict], csr: dict) -> dict:
    """Per target: the ratio at each batch size (worst over d), the worst, and whether it holds."""
    keys = {"dense_over_read_seq": "numba_over_read_seq", "dense_over_numpy": "numba_over_numpy"}
    table = {k: [(r["d"], r["batch"], r[v]) for r in dense] for k, v in keys.items()}
    if "rows" in csr:
        table["csr_over_scipy"] = [(None, r["batch"], r["numba_over_scipy"]) for r in csr["rows"]]
    out = {}
    for k, ratios in table.items():
        worst = min(v for _, _, v in ratios)
        out[k] = {
            "target": TARGETS[k],
            "worst": worst,
            "met_everywhere": worst >= TARGETS[k],
            "met_at": [{"d": d, "batch": b} for d, b, v in ratios if v >= TARGETS[k]],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="JSON results file")
    p.add_argument("--repeats", type=int, default=7, help="timed repeats per measurement")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a9a in LIBSVM format")
    p.add_argument("--n", type=int, default=200_000, help="rows of the dense synthetic data")
    p.add_argument("--dims", type=int, nargs="+", default=[100, 256], help="dense widths d")
    p.add_argument("--batches", type=int, nargs="+", default=[256, 4096, 65536, 200_000])
    p.add_argument("--rows-per-repeat", type=int, default=1 << 20, help="samples per repeat")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS threads for the NumPy/SciPy references (threadpoolctl); 0 leaves them as "
        "they are. Default 1: the kernels are single-threaded, one MPI rank per core",
    )
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats={args.repeats}: must be >= 1")
    if min(args.batches) < 1 or max(args.batches) > args.n:
        p.error(f"--batches={args.batches}: each must be in [1, --n={args.n}]")

    print(f"logistic minibatch gradient, median of {args.repeats} repeats, lam={LAM}, n={args.n}")
    with blas_threads(args.blas_threads):
        dense = bench_dense(
            args.n, args.dims, args.batches, args.repeats, args.rows_per_repeat, args.seed
        )
        csr = bench_csr(args.data, args.batches, args.repeats, args.rows_per_repeat, args.seed)
    targets = check_targets(dense, csr)
    for k, v in targets.items():
        where = ", ".join(
            f"B={m['batch']}" + (f" d={m['d']}" if m["d"] is not None else "") for m in v["met_at"]
        )
        print(f"target {k} >= {v['target']}: worst {v['worst']:.2f}; met at: {where or 'none'}")

    result = {
        "benchmark": "logistic-regression minibatch gradient kernels (crpsgd.kernels.logistic)",
        "command": shlex.join([sys.argv[0], *(sys.argv[1:] if argv is None else argv)]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "config": {
            "lam": LAM,
            "repeats": args.repeats,
            "rows_per_repeat": args.rows_per_repeat,
            "seed": args.seed,
            "blas_threads": args.blas_threads or "unchanged",
            "indices": "B row numbers drawn with replacement, sorted, fresh for every call",
            "numba": "logistic_minibatch_grad_dense / _csr, single thread",
            "numpy": "A = X[idx]; coef = -y[idx] * expit(-y[idx] * (A @ x)); "
            "A.T @ coef / B + lam * x  (SciPy CSR for the csr rows); 1/8 of the kernel's calls",
            "read_seq": "Numba sum over B contiguous rows at a fresh random start; "
            "bytes = B * d * 8 (the same byte count the kernel reads)",
            "numpy_repeats_once": "the same, each distinct row once weighted by its count "
            "(np.unique(idx, return_counts=True)), as the kernel does",
            "read_sampled": "Numba sum over the same sampled rows as the kernel, plain loop",
            "read_sampled_prefetched": "Numba sum over the distinct sampled rows with the "
            "kernel's prefetch hints",
            "units": "samples/s = rows of the minibatch per second; bytes/s = samples/s * d * 8",
        },
        "dense": dense,
        "csr": csr,
        "targets": targets,
    }
    write_result(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
