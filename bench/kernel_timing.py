"""Timing helpers of ``bench_kernels.py``: paired repeats of several methods on the same
draws, their median ratio, the sorted batches drawn, BLAS threads and the machine's record."""

from __future__ import annotations

import math
import os
import statistics
import time
from contextlib import nullcontext

import numba
import numpy as np
import scipy

from bench.benchinfo import cpu_model, machine_basics


def measure(methods: dict[str, tuple], repeats: int, batch: int) -> dict[str, dict]:
    """Time ``fn(*args) for args in calls`` for each ``name: (fn, calls, bytes_per_sample)``.

    One warm-up call each (JIT), then ``repeats`` rounds; every round times each method once
    in turn, so a burst of load on the shared machine hits all methods of that round alike.
    Returns samples/s (and bytes/s) per round and their medians.
    """
    for fn, calls, _ in methods.values():
        fn(*calls[0])
    seconds = {name: [] for name in methods}
    for _ in range(repeats):
        for name, (fn, calls, _) in methods.items():
            t0 = time.perf_counter()
            for args in calls:
                fn(*args)
            seconds[name].append(time.perf_counter() - t0)
    out = {}
    for name, (_, calls, bytes_per_sample) in methods.items():
        sps = [len(calls) * batch / t for t in seconds[name]]
        out[name] = {
            "median_samples_per_s": statistics.median(sps),
            "samples_per_s": sps,
            "seconds": seconds[name],
            "calls_per_repeat": len(calls),
        }
        if bytes_per_sample is not None:
            out[name]["median_bytes_per_s"] = out[name]["median_samples_per_s"] * bytes_per_sample
    return out


def paired_ratio(row: dict, fast: str, ref: str) -> float:
    """Median over rounds of (``fast`` samples/s) / (``ref`` samples/s) in the same round."""
    pairs = zip(row[fast]["samples_per_s"], row[ref]["samples_per_s"], strict=True)
    return statistics.median(a / b for a, b in pairs)


def sorted_batches(rng: np.random.Generator, n: int, batch: int, n_calls: int) -> np.ndarray:
    """``n_calls`` independent sorted draws of ``batch`` row numbers, with replacement."""
    return np.sort(rng.integers(0, n, size=(n_calls, batch), dtype=np.int64), axis=1)


def n_calls_for(batch: int, rows_per_repeat: int) -> int:
    return max(2, math.ceil(rows_per_repeat / batch))


# --------------------------------------------------------------------------- benchmarks


def blas_threads(n: int):
    """A context limiting BLAS/OpenMP threads to ``n`` (0: unchanged) with threadpoolctl."""
    if n <= 0:
        return nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("threadpoolctl not installed: BLAS threads left as they are")
        return nullcontext()
    return threadpool_limits(limits=n)


def machine_info() -> dict:
    info = {
        **machine_basics(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "numpy": np.__version__,
        "numba": numba.__version__,
        "scipy": scipy.__version__,
        "numba_cpu_name": numba.config.CPU_NAME or "host",
        "env": {
            k: os.environ[k]
            for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
            if k in os.environ
        },
    }
    info["cpu_model"] = cpu_model()
    try:
        from threadpoolctl import threadpool_info

        # library file names only: the results name no path of the measuring machine
        info["threadpools"] = [
            {**pool, "filepath": os.path.basename(pool.get("filepath") or "")}
            for pool in threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info
