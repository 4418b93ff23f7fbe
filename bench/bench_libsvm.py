"""Speed of the LIBSVM reader against scikit-learn's ``load_svmlight_file``.

Run from the repository root (``make bench-data``)::

    python -m bench libsvm --data ../shared/data/a9a --out bench/results/libsvm.json \
        [--repeats 7] [--n-features 123] [--min-time 0.2]

In one process, on the same file and width (``--n-features``; default: the width our reader
infers, 123 for a9a), it times:

1. ``crpsgd.data.libsvm.read_libsvm`` (CSR result),
2. ``sklearn.datasets.load_svmlight_file`` (CSR result),
3. for reference, ``crpsgd.data.h5data.read_h5_rows`` of all rows of the same data after
   ``crpsgd convert`` (an HDF5 file in a temporary directory).

Each reader gets one untimed warm-up call; a repeat times as many calls as fill about
``--min-time`` seconds and reports seconds per call. The table shows the median over repeats
(the machine is shared and noisy); the JSON keeps every repeat. MB/s is the size of the file
read (the LIBSVM text, or the HDF5 file for row 3) in 10^6 bytes per second. The first call of
our reader in a fresh process (Numba dispatch and loading its on-disk compile cache) is timed
apart as ``first_call_s``. The results of both text readers are checked to be identical.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

from bench.benchinfo import cpu_model, machine_basics, write_result

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "a9a"


def time_reader(call: Callable[[], object], repeats: int, min_time: float) -> dict:
    """Seconds per call of ``call`` for each repeat, after one warm-up; and the median."""
    t0 = time.perf_counter()
    call()
    warm = time.perf_counter() - t0
    calls = max(1, math.ceil(min_time / max(warm, 1e-9)))
    per_call = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            call()
        per_call.append((time.perf_counter() - t0) / calls)
    return {"calls_per_repeat": calls, "seconds": per_call, "median_s": statistics.median(per_call)}


def machine_info() -> dict:
    import scipy
    import sklearn

    info = {
        **machine_basics(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
    }
    try:
        import h5py

        info["h5py"] = h5py.__version__
        info["hdf5"] = h5py.version.hdf5_version
    except ImportError:  # pragma: no cover
        pass
    info["cpu_model"] = cpu_model()
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a LIBSVM file (a9a)")
    p.add_argument("--out", type=Path, required=True, help="JSON results file")
    p.add_argument("--repeats", type=int, default=7, help="timed repeats per reader")
    p.add_argument("--n-features", type=int, default=None, help="width d for both readers")
    p.add_argument("--min-time", type=float, default=0.2, help="seconds a repeat should last")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats={args.repeats}: must be >= 1")
    if not args.data.is_file():
        p.error(f"--data={args.data}: no such file")

    # Our reader's first call in this process, before anything else touches Numba.
    t0 = time.perf_counter()
    from crpsgd.data.libsvm import read_libsvm

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = read_libsvm(args.data, n_features=args.n_features)
    first_call_s = time.perf_counter() - t0

    from sklearn.datasets import load_svmlight_file

    from crpsgd.data.convert import convert_libsvm_to_h5
    from crpsgd.data.h5data import read_h5_rows

    path = str(args.data)
    d = ours.n_features if args.n_features is None else args.n_features
    raw = args.data.read_bytes()
    size = len(raw)
    X, y = load_svmlight_file(path, n_features=d)
    same = (
        X.shape == ours.shape
        and np.array_equal(X.indptr, ours.indptr)
        and np.array_equal(X.indices, ours.indices)
        and np.array_equal(X.data, ours.data)
        and np.array_equal(np.where(y == 0, -1.0, y), ours.y)
    )
    if not same:
        print("ERROR: the two readers disagree", file=sys.stderr)
        return 1

    print(f"{args.data} ({size / 1e6:.2f} MB, {ours.n_rows} rows, d={d}, nnz={ours.nnz}); "
          f"median of {args.repeats} repeats")  # fmt: skip
    readers = {}
    readers["crpsgd"] = time_reader(
        lambda: read_libsvm(path, n_features=d), args.repeats, args.min_time
    )
    readers["sklearn"] = time_reader(
        lambda: load_svmlight_file(path, n_features=d), args.repeats, args.min_time
    )
    with tempfile.TemporaryDirectory() as tmp:
        h5 = os.path.join(tmp, "data.h5")
        convert_libsvm_to_h5(path, h5, n_features=d)
        h5_size = os.path.getsize(h5)
        readers["crpsgd_hdf5"] = time_reader(
            lambda: read_h5_rows(h5, 0, ours.n_rows), args.repeats, args.min_time
        )
    readers["crpsgd_hdf5"]["file_bytes"] = h5_size
    for r in readers.values():
        nbytes = r.get("file_bytes", size)
        r["median_MB_per_s"] = nbytes / 1e6 / r["median_s"]
        r["MB_per_s"] = [nbytes / 1e6 / s for s in r["seconds"]]
    speedup = readers["sklearn"]["median_s"] / readers["crpsgd"]["median_s"]

    labels = {
        "crpsgd": "crpsgd read_libsvm",
        "sklearn": "sklearn load_svmlight_file",
        "crpsgd_hdf5": "crpsgd read_h5_rows (HDF5)",
    }
    print(f"{'reader':30s} {'median s':>10s} {'MB/s':>9s} {'vs sklearn':>11s}")
    for name, r in readers.items():
        ratio = readers["sklearn"]["median_s"] / r["median_s"]
        print(f"{labels[name]:30s} {r['median_s']:10.4f} {r['median_MB_per_s']:9.1f} "
              f"{ratio:10.1f}x")  # fmt: skip
    print(f"crpsgd first call in a fresh process: {first_call_s:.3f} s "
          f"(import {import_s:.3f} s)")  # fmt: skip

    result = {
        "benchmark": "LIBSVM text reader",
        "command": " ".join(
            [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
        ),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "file": {
            "path": str(args.data),
            "bytes": size,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "rows": ours.n_rows,
            "n_features": d,
            "nnz": ours.nnz,
        },
        "config": {"repeats": args.repeats, "min_time_s": args.min_time, "warmup_calls": 1},
        "readers": readers,
        "speedup_vs_sklearn": speedup,
        "results_identical": same,
        "first_call_s": first_call_s,
        "import_s": import_s,
    }
    write_result(args.out, result)
    print(f"speed-up over scikit-learn: {speedup:.1f}x; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
