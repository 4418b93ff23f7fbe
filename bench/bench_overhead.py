"""Driver overhead of a PSGD(B) round: what is not the gradient kernel or the Allreduce.

Run from the repository root (``make bench-overhead``)::

    python -m bench overhead [--batches 4,64,1000,4096] [--rounds 2000] [--repeats 3]
        [--np 2] [--data ../shared/data/a9a] [--out bench/results/overhead.json]

One ``mpiexec -n NP`` job (one rank per core) does everything, so that the ratios compare
numbers of the same job. Per batch size ``B`` and repeat it

1. runs ``crpsgd run --algo psgd --batch B`` on a9a (``lam = 1e-4``, ``--rounds`` rounds,
   run log written as usual) in-process, and reads the round's duration from its log: the
   difference of consecutive ``/rounds/wall_s`` (the whole cycle: sampling, kernel,
   Allreduce, step, bookkeeping, logging), rounds followed by an evaluation left out (their
   evaluation is counted apart, as ``eval_s``);
2. times the kernel alone: ``problem.stochastic_grad`` on freshly sampled sorted rows of
   the same problem, per call;
3. times a bare ``MPI.Allreduce`` (``IN_PLACE``, SUM) of a float64 buffer of the round's
   size (the gradient and the control slot), per call, after a barrier;
4. times the *floor* of a round driven from Python: a loop of only the calls every such
   round must make (draw the sorted rows, the kernel, the Allreduce, the division by N and
   the step), with no schedule, noise estimate, checks or log. ``round - floor`` is what
   crpsgd's driver adds; ``floor / Allreduce`` bounds any Python-driven round;
5. times the sampling alone (``sample_indices`` of ``B`` rows), part of the floor and of the
   rest: the sampling rule's own cost, whatever drives the round.

Reported per ``B``, as medians over the repeats of per-repeat medians (rank 0): the round,
the kernel, the bare Allreduce, the rest (round - kernel - Allreduce), and the ratios
round / Allreduce and rest / round; also the mean round (flushes of the log included). The
targets of issue 10: round <= 3 x Allreduce at ``B = 4``; rest <= 5 % of the round at
``B >= 1000``. The machine's load (``os.getloadavg``) before and after is recorded: on a
shared machine these figures are noisy, the ratios within one job less so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "a9a"
CALLS = 3000  # timed calls of the kernel and of the bare Allreduce per repeat


def run_args(args: argparse.Namespace, batch: int, out: Path) -> list[str]:
    """The ``crpsgd run`` flags of one measured run."""
    return [
        "run",
        "--data",
        args.data,
        "--n-features",
        "123",
        "--lam",
        "1e-4",
        "--algo",
        "psgd",
        "--batch",
        str(batch),
        "--T",
        str(batch * args.rounds),
        "--gamma",
        "auto",
        "--fstar",
        "0",
        "--quiet",
        "--overwrite",
        "--out",
        str(out),
    ]


def log_rounds(path: Path) -> dict[str, float]:
    """Median and mean seconds of a round from a run log (rounds with an evaluation, and the
    first round, left out), and the medians of its logged compute and communication."""
    import h5py

    with h5py.File(path, "r") as f:
        wall = f["rounds/wall_s"][:]
        rounds = f["rounds/round"][:]
        evals = set(int(r) for r in f["eval/round"][:])
        compute = f["rounds/compute_s"][:]
        comm = f["rounds/comm_s"][:]
    cycle = np.diff(wall)  # cycle[i]: from the end of round i+1 to the end of round i+2
    keep = np.array([int(r) not in evals for r in rounds[:-1]])
    cycle = cycle[keep]
    return {
        "round_s": float(np.median(cycle)),
        "round_mean_s": float(np.mean(cycle)),
        "logged_compute_s": float(np.median(compute)),
        "logged_comm_s": float(np.median(comm)),
        "rounds": int(rounds.size),
    }


def time_kernel(problem, batch: int, calls: int) -> float:
    """Median seconds of one ``stochastic_grad`` call on sampled sorted rows."""
    from crpsgd.data.rng import sample_indices

    rng = np.random.default_rng(12345)
    x = np.zeros(problem.dim, dtype=problem.dtype)
    grad = np.empty_like(x)
    idxs = [sample_indices(rng, problem.n_local, batch) for _ in range(min(calls, 256))]
    times = np.empty(calls)
    clock = time.perf_counter
    for k in range(calls):
        idx = idxs[k % len(idxs)]
        t0 = clock()
        problem.stochastic_grad(x, idx, grad)
        times[k] = clock() - t0
    return float(np.median(times))


def time_sampling(problem, batch: int, calls: int) -> float:
    """Median seconds of drawing one round's ``batch`` sorted row numbers (the loop's rule)."""
    from crpsgd.data.rng import sample_indices, worker_rng

    rng = worker_rng(7, 0)
    times = np.empty(calls)
    clock = time.perf_counter
    for k in range(calls):
        t0 = clock()
        sample_indices(rng, problem.n_local, batch)
        times[k] = clock() - t0
    return float(np.median(times))


def time_allreduce(mpi_comm, size: int, calls: int) -> float:
    """Median seconds of one bare ``Allreduce`` (IN_PLACE, SUM) of ``size`` doubles."""
    from mpi4py import MPI

    buf = np.zeros(size)
    times = np.empty(calls)
    mpi_comm.Barrier()
    for k in range(calls):
        t0 = MPI.Wtime()
        mpi_comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        times[k] = MPI.Wtime() - t0
    return float(np.median(times))


def time_floor(problem, mpi_comm, batch: int, calls: int) -> float:
    """Median seconds of the minimal Python-driven round (item 4 of the module docstring)."""
    from mpi4py import MPI

    from crpsgd.data.rng import sample_indices, worker_rng

    rng = worker_rng(99, mpi_comm.rank)
    x = np.zeros(problem.dim, dtype=problem.dtype)
    buf = np.zeros(problem.dim + 1, dtype=problem.dtype)
    grad = buf[: problem.dim]
    inv = 1.0 / mpi_comm.size
    times = np.empty(calls)
    mpi_comm.Barrier()
    for k in range(calls):
        t0 = MPI.Wtime()
        idx = sample_indices(rng, problem.n_local, batch)
        problem.stochastic_grad(x, idx, grad)
        mpi_comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        buf *= inv
        problem.apply_step(x, grad, 1e-3)
        times[k] = MPI.Wtime() - t0
    return float(np.median(times))


def build_problem(argv: list[str], comm):
    """The problem of ``crpsgd run argv`` on this rank (as the run builds it)."""
    from crpsgd.cli.app import build_parser
    from crpsgd.registry import parts
    from crpsgd.registry.config import merge

    cli = {k: v for k, v in vars(build_parser().parse_args(argv)).items() if k != "command"}
    cfg = merge({k: v for k, v in cli.items() if k not in ("config", "resume")}, None)
    part = parts.problem(cfg["problem"])
    data = part.load_data(cfg, comm)
    return part.build(parts.ProblemContext(cfg, comm, data))


def worker(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from crpsgd.cli.app import main as crpsgd_main
    from crpsgd.comm.communicator import Communicator

    world = MPI.COMM_WORLD
    tmp = Path(args.tmp)
    batches = [int(b) for b in args.batches.split(",")]
    warm = run_args(args, 4, tmp / "warm.h5")
    warm[warm.index("--T") + 1] = "2000"
    if crpsgd_main(warm) != 0:  # Numba's cache, imports
        return 1
    problem = build_problem(run_args(args, 4, tmp / "unused.h5"), Communicator())
    rows = []
    for batch in batches:
        reps = []
        for rep in range(args.repeats):
            out = tmp / f"b{batch}-{rep}.h5"
            if crpsgd_main(run_args(args, batch, out)) != 0:
                return 1
            kernel = time_kernel(problem, batch, CALLS)
            allreduce = time_allreduce(world, problem.dim + 1, CALLS)
            floor = time_floor(problem, world, batch, CALLS)
            sampling = time_sampling(problem, batch, CALLS)
            if world.rank == 0:
                rec = log_rounds(out)
                rec.update(kernel_s=kernel, allreduce_s=allreduce, floor_s=floor)
                rec["sampling_s"] = sampling
                rec["rest_s"] = rec["round_s"] - kernel - allreduce
                rec["round_over_allreduce"] = rec["round_s"] / allreduce
                rec["rest_fraction"] = rec["rest_s"] / rec["round_s"]
                rec["floor_over_allreduce"] = floor / allreduce
                rec["driver_s"] = rec["round_s"] - floor
                reps.append(rec)
                out.unlink()
        if world.rank == 0:
            row = {"batch": batch, "repeats": reps}
            for key in reps[0]:
                row[key] = float(np.median([r[key] for r in reps]))
            rows.append(row)
            print(
                f"B={batch:5d}  round {row['round_s'] * 1e6:8.2f} us  kernel "
                f"{row['kernel_s'] * 1e6:8.2f}  allreduce {row['allreduce_s'] * 1e6:6.2f}  rest "
                f"{row['rest_s'] * 1e6:8.2f}  round/allreduce {row['round_over_allreduce']:6.2f}"
                f"  rest/round {row['rest_fraction']:.3f}  floor {row['floor_s'] * 1e6:8.2f}",
                flush=True,
            )
    if world.rank == 0:
        Path(args.rows).write_text(json.dumps(rows))
    return 0


def markdown(result: dict) -> str:
    """The README table."""
    lines = [
        "| B | round (µs) | kernel (µs) | Allreduce (µs) | rest (µs) | round / Allreduce "
        "| rest / round | sampling (µs) | floor (µs) | floor / Allreduce | mean round (µs) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['batch']} | {r['round_s'] * 1e6:.1f} | {r['kernel_s'] * 1e6:.1f} | "
            f"{r['allreduce_s'] * 1e6:.1f} | {r['rest_s'] * 1e6:.1f} | "
            f"{r['round_over_allreduce']:.2f} | {r['rest_fraction']:.3f} | "
            f"{r.get('sampling_s', float('nan')) * 1e6:.1f} | "
            f"{r['floor_s'] * 1e6:.1f} | {r['floor_over_allreduce']:.2f} | "
            f"{r['round_mean_s'] * 1e6:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--batches", default="4,64,1000,4096")
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--np", type=int, default=2)
    parser.add_argument("--out", default="bench/results/overhead.json")
    parser.add_argument("--label", default="", help="recorded in the results (e.g. before)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    parser.add_argument("--rows", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    if not Path(args.data).is_file():
        print(f"bench_overhead: data file {args.data} not found", file=sys.stderr)
        return 2
    from bench.benchinfo import cpu_model, machine_basics, write_result

    exe = os.environ.get("CRPSGD_MPIEXEC") or str(Path(sys.executable).parent / "mpiexec")
    load_before = os.getloadavg()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        rows_path = Path(tmp) / "rows.json"
        cmd = [exe, "-n", str(args.np), sys.executable, "-m", "bench", "overhead"]
        cmd += ["--worker", "--tmp", tmp, "--rows", str(rows_path), "--data", args.data]
        cmd += ["--batches", args.batches, "--rounds", str(args.rounds)]
        cmd += ["--repeats", str(args.repeats)]
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        if args.np > (os.cpu_count() or 1):  # oversubscribed: waiting ranks sleep (Makefile)
            env.setdefault("MPIR_CVAR_CH4_PROGRESS_THROTTLE", "1")
            env.setdefault("MPIR_CVAR_CH4_PROGRESS_THROTTLE_NO_PROGRESS_COUNT", "1")
        subprocess.run(cmd, check=True, cwd=REPO, env=env)
        rows = json.loads(rows_path.read_text())
    result = {
        "command": "python -m bench overhead " + " ".join(argv or sys.argv[1:]),
        "label": args.label,
        "problem": "l2 logistic regression, a9a, lam = 1e-4, PSGD(B)",
        "n_workers": args.np,
        "rounds_per_run": args.rounds,
        "repeats": args.repeats,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "seconds": time.time() - started,
        "machine": {**machine_basics(), "cpu": cpu_model()},
        "rows": rows,
    }
    write_result(Path(args.out), result)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
