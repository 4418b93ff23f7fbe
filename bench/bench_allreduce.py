"""The round's Allreduce on this machine, and its Hockney fit per MPICH algorithm.

Run from the repository root (``make bench-allreduce``)::

    python -m bench allreduce --out bench/results/allreduce.json [--n 2,4,8]
        [--algorithms mpich,recursive-doubling,rabenseifner,ring] [--calls 2000] [--quick]

The driver (this script without a launcher) starts one ``mpiexec -n N`` job per rank count
``N`` and algorithm; each job (``--worker``) times ``MPI_Allreduce(IN_PLACE, SUM)`` of float64
buffers over a sweep of sizes that includes the sizes in use: 124 doubles (a9a's 123 weights
and the control slot) and 270,000 float32 (ResNet20's parameters; also timed as float32).
A size is timed in ``--calls`` single calls after a warm-up (a tenth as many above 64 KiB),
each started after a ``Barrier`` and taken as the slowest rank's ``MPI.Wtime`` seconds; the
figure is the median call (the mean, which counts every descheduling of a rank on a shared
machine, and the quartiles are kept too). Each job also times the local reduction
``np.add(a, b, out=a)`` per byte (the model's ``gamma``).

Algorithms: ``mpich`` is MPICH's own choice (no variable set); the others force one
through ``MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM`` (``recursive_doubling``,
``reduce_scatter_allgather``, ``ring``) with ``MPIR_CVAR_DEVICE_COLLECTIVES=none`` (so that
the device's shared-memory collectives do not take over). The fit: the model of
:mod:`crpsgd.analysis.network` is linear in ``alpha`` and ``beta`` once ``gamma`` is measured, so
``t(n) - C(p, n) gamma = A(p, n) alpha + B(p, n) beta`` is solved by least squares over the
sizes in the algorithm's regime (for ``mpich``: recursive doubling up to 2048 bytes,
Rabenseifner above, fitted apart), with ``A, B, C`` the model's coefficients.

These are shared-memory figures of one 2-core machine, not network figures: ``N = 2`` puts
one rank on each core; ``N > 2`` is oversubscribed (the jobs then run with MPICH's progress
throttle, ``MPIR_CVAR_CH4_PROGRESS_THROTTLE=1``, so that waiting ranks sleep) and measures
the operating system's scheduling as much as the Allreduce.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

from crpsgd.analysis.network import MPICH_SHORT_MSG_SIZE, Network, allreduce_seconds  # noqa: E402

#: float64 element counts of the sweep (124: a9a's buffer; 270,000: ResNet20's, as doubles).
SWEEP = (1, 8, 32, 124, 256, 1024, 4096, 16384, 65536, 270000, 1048576)
QUICK_SWEEP = (1, 16, 64, 124, 256, 4096, 65536)
RESNET20_FLOATS = 270000
A9A_DOUBLES = 124
CVAR = {
    "recursive-doubling": "recursive_doubling",
    "rabenseifner": "reduce_scatter_allgather",
    "ring": "ring",
}
THROTTLE = {
    "MPIR_CVAR_CH4_PROGRESS_THROTTLE": "1",
    "MPIR_CVAR_CH4_PROGRESS_THROTTLE_NO_PROGRESS_COUNT": "1",
}


def _time_allreduce(comm, buf: np.ndarray, calls: int) -> np.ndarray:
    """Seconds of ``calls`` single Allreduce calls, each started after a ``Barrier`` and
    taken as the slowest rank's."""
    from mpi4py import MPI

    for _ in range(5):
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    seconds = np.empty(calls)
    for i in range(calls):
        comm.Barrier()
        t0 = MPI.Wtime()
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        seconds[i] = MPI.Wtime() - t0
        buf.fill(1.0 / comm.Get_size())  # keep the values bounded
    comm.Allreduce(MPI.IN_PLACE, seconds, op=MPI.MAX)
    return seconds


def _time_gamma(nbytes: int, repeats: int) -> float:
    """Seconds per byte of ``a += b`` on float64 buffers of ``nbytes`` (median)."""
    a = np.ones(max(nbytes // 8, 1))
    b = np.ones_like(a)
    calls = max(1, 2_000_000 // a.size)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            np.add(a, b, out=a)
        times.append((time.perf_counter() - t0) / calls / a.nbytes)
    return statistics.median(times)


def worker(args: argparse.Namespace) -> None:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    sizes = QUICK_SWEEP if args.quick else SWEEP
    rows = []
    buffers = [(n, np.float64) for n in sizes] + [(RESNET20_FLOATS, np.float32)]
    for count, dtype in buffers:
        buf = np.full(count, 1.0 / comm.Get_size(), dtype=dtype)
        calls = args.calls if buf.nbytes <= 1 << 16 else max(args.calls // 10, 5)
        per_call = _time_allreduce(comm, buf, calls)
        rows.append(
            {
                "count": count,
                "dtype": np.dtype(dtype).name,
                "bytes": int(buf.nbytes),
                "calls": calls,
                "median_s": float(np.median(per_call)),
                "quartiles_s": [float(q) for q in np.percentile(per_call, [25, 75])],
                "mean_s": float(per_call.mean()),
            }
        )
    gamma = _time_gamma(8 * A9A_DOUBLES, 7), _time_gamma(8 * 65536, 7)
    if comm.Get_rank() == 0:
        result = {
            "n_ranks": comm.Get_size(),
            "mpi_library": " ".join(MPI.Get_library_version().splitlines()[0].split()),
            "rows": rows,
            "gamma_small_s_per_byte": gamma[0],
            "gamma_large_s_per_byte": gamma[1],
        }
        Path(args.worker).write_text(json.dumps(result, indent=1))


def coefficients(p: int, nbytes: float, algorithm: str) -> tuple[float, float, float]:
    """``(A, B, C)`` with ``t = A alpha + B beta + C gamma`` (the model is linear in them)."""
    return tuple(
        allreduce_seconds(p, nbytes, Network("unit", *unit), algorithm)
        for unit in ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    )


def _nonnegative_lstsq(design: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Least squares of two coefficients kept >= 0 (a negative one is refitted as 0)."""
    (alpha, beta), *_ = np.linalg.lstsq(design, target, rcond=None)
    if alpha >= 0 and beta >= 0:
        return float(alpha), float(beta)
    best = None
    for j in (0, 1):
        col = design[:, j]
        coef = max(float(col @ target) / float(col @ col), 0.0) if col.any() else 0.0
        err = float(np.sum((target - coef * col) ** 2))
        if best is None or err < best[0]:
            best = (err, (coef, 0.0) if j == 0 else (0.0, coef))
    return best[1]


def fit(p: int, rows: list[dict], algorithm: str, gamma: float) -> dict:
    """``alpha, beta`` of ``t - C gamma = A alpha + B beta`` over ``rows``, least squares in
    relative error (each row divided by its ``t``): the sizes span six decades, and absolute
    residuals would let the largest buffer alone decide ``alpha``."""
    design, target = [], []
    for row in rows:
        a, b, c = coefficients(p, row["bytes"], algorithm)
        design.append((a, b))
        target.append(row["median_s"] - c * gamma)
    design = np.array(design)
    target = np.array(target)
    if len(rows) < 2 or not design[:, 0].any():
        return {"alpha": None, "beta": None, "sizes": [r["bytes"] for r in rows]}
    weight = 1.0 / np.array([r["median_s"] for r in rows])
    alpha, beta = _nonnegative_lstsq(design * weight[:, None], target * weight)
    predicted = design @ np.array([alpha, beta]) + gamma * np.array(
        [coefficients(p, r["bytes"], algorithm)[2] for r in rows]
    )
    rel = np.abs(predicted - np.array([r["median_s"] for r in rows])) / np.array(
        [r["median_s"] for r in rows]
    )
    return {
        "alpha": float(alpha),
        "beta": float(beta),
        "sizes": [r["bytes"] for r in rows],
        "max_relative_error": float(rel.max()),
    }


def fits_for(p: int, result: dict, algorithm: str) -> dict:
    """The fits of one job: per regime for ``mpich``, over all float64 sizes otherwise."""
    rows = [r for r in result["rows"] if r["dtype"] == "float64"]
    # the reduction's cost per byte where numpy's per-call overhead is amortised; the small
    # buffer's figure is mostly that overhead (about 1 us per call), not a cost per byte
    gamma = result["gamma_large_s_per_byte"]
    if algorithm != "mpich":
        return {algorithm: fit(p, rows, algorithm, gamma)}
    small = [r for r in rows if r["bytes"] <= MPICH_SHORT_MSG_SIZE]
    large = [r for r in rows if r["bytes"] > MPICH_SHORT_MSG_SIZE]
    return {
        "recursive-doubling": fit(p, small, "recursive-doubling", gamma),
        "rabenseifner": fit(p, large, "rabenseifner", gamma),
    }


def _launcher() -> list[str]:
    exe = os.environ.get("CRPSGD_MPIEXEC") or str(Path(sys.executable).parent / "mpiexec")
    return [exe, *shlex.split(os.environ.get("CRPSGD_MPIFLAGS", ""))]


def job_environment(n: int, algorithm: str, base: dict[str, str], cores: int) -> dict[str, str]:
    """The environment of one job: the forced algorithm's variables, and MPICH's progress
    throttle exactly when the job is oversubscribed (``n > cores``), whatever ``base`` has
    (``make`` targets of other benchmarks export it)."""
    env = {k: v for k, v in base.items() if k not in THROTTLE}
    for name in ("MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM", "MPIR_CVAR_DEVICE_COLLECTIVES"):
        env.pop(name, None)
    if algorithm != "mpich":
        env["MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM"] = CVAR[algorithm]
        env["MPIR_CVAR_DEVICE_COLLECTIVES"] = "none"
    if n > cores:
        env.update(THROTTLE)
    return env


def run_job(n: int, algorithm: str, args: argparse.Namespace) -> dict:
    """One ``mpiexec -n n`` job of this script as ``--worker``; its result."""
    env = job_environment(n, algorithm, dict(os.environ), os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "job.json"
        cmd = [*_launcher(), "-n", str(n), sys.executable, "-m", "bench", "allreduce"]
        cmd += ["--worker", str(out)]
        cmd += ["--calls", str(args.calls)]
        if args.quick:
            cmd.append("--quick")
        subprocess.run(cmd, check=True, env=env, cwd=REPO, timeout=args.timeout)
        result = json.loads(out.read_text())
    result["mpich_variables"] = {k: v for k, v in sorted(env.items()) if k.startswith("MPIR_")}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/allreduce.json")
    parser.add_argument("--n", default="2,4,8", help="rank counts")
    parser.add_argument("--algorithms", default="mpich,recursive-doubling,rabenseifner,ring")
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per size")
    parser.add_argument("--quick", action="store_true", help="few sizes (smoke test)")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    cores = os.cpu_count() or 1
    jobs = []
    for n in (int(v) for v in args.n.split(",")):
        for algorithm in args.algorithms.split(","):
            result = run_job(n, algorithm, args)
            result.update(
                algorithm=algorithm,
                oversubscribed=n > cores,
                fits=fits_for(n, result, algorithm),
            )
            jobs.append(result)
            for regime, f in result["fits"].items():
                a = "-" if f["alpha"] is None else f"{f['alpha'] * 1e6:.3g} us"
                b = "-" if f["beta"] is None else f"{f['beta'] * 1e9:.3g} ns/B"
                print(f"N={n} {algorithm:>18} fit {regime:>18}: alpha {a}, beta {b}")
            for row in result["rows"]:
                if row["count"] in (A9A_DOUBLES, RESNET20_FLOATS):
                    print(
                        f"N={n} {algorithm:>18} {row['count']} {row['dtype']}: "
                        f"{row['median_s'] * 1e6:.1f} us"
                    )
    report = {
        "command": "python -m bench allreduce " + " ".join(argv or sys.argv[1:]),
        "machine": {"cores": cores, "platform": platform.platform()},
        "note": "shared memory on one machine, not a network; N > cores is oversubscribed",
        "jobs": jobs,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
