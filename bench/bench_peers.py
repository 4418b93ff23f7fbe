"""crpsgd against what users would write instead: the same PSGD / CR-PSGD, four ways.

Run from the repository root (``make bench-peers``; a quiet machine, nothing else running)::

    python -m bench peers [--T 2000000] [--gamma-factor 4] [--seeds 0,1,2] [--np 2]
        [--configs psgd:4@500000,psgd:64@500000,psgd:4096,cr-psgd:4:1.02] [--target 1e-3]
        [--impls crpsgd,mpi-scipy,torch,ddp,horovod] [--resnet-batches 32,128]
        [--out bench/results/peers.json] [--md bench/results/peers.md]

The problem is l2 logistic regression on a9a (``lam = 1e-4``), on ``--np`` ranks (one per
core), each implementation started by the same ``mpiexec -n NP``:

1. ``crpsgd``: ``crpsgd run`` (Numba kernels, one Allreduce of a float64 buffer per round);
2. ``mpi-scipy``: ``bench/peers/mpi_scipy.py``, mpi4py + SciPy CSR, vectorised, no Numba;
3. ``torch`` / ``ddp``: ``bench/peers/torch_gloo.py``, ``torch.distributed`` with gloo, a
   ``torch.nn.Linear`` and ``BCEWithLogitsLoss`` + l2, one ``all_reduce`` of the gradient per
   round; ``ddp`` the same model wrapped in ``DistributedDataParallel`` (skipped with a note
   when torch is not installed);
4. ``horovod``: ``bench/peers/horovod_torch.py`` (skipped with a note when Horovod is not
   installed).

Same algorithm for all: the same start (``x = 0``), step size (``--gamma-factor`` times
crpsgd's ``--gamma auto``, i.e. ``1/L``; passed to every implementation), batch sizes, data
split, per-rank random streams and sampling rule (i.i.d. with replacement from the rank's
shard, sorted), and evaluation points; the shared parts are in ``bench/peers/common.py``.
``f*`` is crpsgd's ``--fstar auto`` (a Newton solve).

Per implementation and configuration, medians over the seeds of: seconds per round (a
round's duration from its sampling to its update, evaluations excluded) with its compute and
communication parts (the medians of those parts); the loop seconds (evaluations excluded,
round 1 with its one-time start-up included) until the first evaluation with ``f - f* <=
--target``; and the final ``f - f*``. The trajectory check: every implementation's final
``f - f*`` (median over seeds) lies within crpsgd's range over the seeds, widened by a
relative 1e-6 (with the same seeds and streams they should agree to rounding). Ratios are
against crpsgd in the same run. Before the measured runs each implementation runs once
unmeasured, with at most ``WARM_T`` SFO (Numba's cache, torch's start-up). Every
implementation runs every seed in turn, so that a change of the machine's load hits all of
them alike.

With torch installed, the ResNet20 round follows (``bench/peers/resnet.py``): crpsgd's torch
path against ``DistributedDataParallel`` with gloo, the same per-rank batch (each of
``--resnet-batches``; an empty value skips it), seconds per round.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
from bench.peers import resnet  # noqa: E402
from bench.peers.results import (  # noqa: E402, F401
    NAMES,
    aggregate,
    crpsgd_metrics,
    markdown,
    summarise,
)

#: Peer jobs that failed once and were run again (reported in the notes).
RETRIED: list[str] = []
#: SFO per worker of the unmeasured warm-up run of each implementation (caches, start-up).
WARM_T = 20000
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "a9a"
SCRIPTS = {
    "mpi-scipy": ("mpi_scipy", []),
    "torch": ("torch_gloo", []),
    "ddp": ("torch_gloo", ["--ddp"]),
    "horovod": ("horovod_torch", []),
}
HOROVOD_NOTE = (
    "Horovod 0.28.1 (its source package from PyPI) did not build here: with pip's build "
    "isolation CMake found neither torch nor MPICH's C++ wrapper; with --no-build-isolation "
    "and the venv's MPICH compilers on PATH it was still compiling when the 10-minute time box "
    "ended (shared 2-core machine)"
)


def parse_config(text: str) -> dict:
    """``psgd:B`` or ``cr-psgd:B1:RHO``, optionally ``@T``: this configuration's own SFO
    budget per worker instead of ``--T`` (for the small batches, whose gloo rounds cost
    milliseconds and which at the common step size stop at a noise floor far above the
    target)."""
    spec, at, budget = text.partition("@")
    parts = spec.split(":")
    if parts[0] == "psgd" and len(parts) == 2:
        cfg = {"algo": "psgd", "batch": int(parts[1]), "label": f"PSGD(B={parts[1]})"}
    elif parts[0] == "cr-psgd" and len(parts) == 3:
        label = f"CR-PSGD(B1={parts[1]}, rho={parts[2]})"
        cfg = {"algo": "cr-psgd", "b1": int(parts[1]), "rho": parts[2], "label": label}
    else:
        raise SystemExit(f"--configs: {text!r} is not psgd:B or cr-psgd:B1:RHO, then @T or not")
    if at:
        if not budget.isdigit() or int(budget) < 1:
            raise SystemExit(f"--configs: {text!r}: the budget after @ must be a positive integer")
        cfg["T"] = int(budget)
    return cfg


def _launcher(n: int) -> list[str]:
    exe = os.environ.get("CRPSGD_MPIEXEC") or str(Path(sys.executable).parent / "mpiexec")
    return [exe, *shlex.split(os.environ.get("CRPSGD_MPIFLAGS", "")), "-n", str(n)]


def _env(n: int) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    if n > (os.cpu_count() or 1):  # oversubscribed: waiting ranks sleep (see the Makefile)
        env["MPIR_CVAR_CH4_PROGRESS_THROTTLE"] = "1"
        env["MPIR_CVAR_CH4_PROGRESS_THROTTLE_NO_PROGRESS_COUNT"] = "1"
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _algo_flags(cfg: dict) -> list[str]:
    if cfg["algo"] == "psgd":
        return ["--algo", "psgd", "--batch", str(cfg["batch"])]
    return ["--algo", "cr-psgd", "--b1", str(cfg["b1"]), "--rho", cfg["rho"]]


def run_crpsgd(args, cfg: dict, seed: int, out: Path, gamma: float | None = None) -> dict:
    """``crpsgd run`` under mpiexec (step size ``gamma``; None: ``auto``, 1/L); the metrics
    of its log."""
    cmd = [*_launcher(args.np), sys.executable, "-m", "crpsgd", "run", "--data", args.data]
    cmd += ["--n-features", "123", "--lam", str(args.lam), "--T", str(args.T), "--seed", str(seed)]
    step = "auto" if gamma is None else repr(gamma)
    cmd += [*_algo_flags(cfg), "--gamma", step, "--fstar", "auto", "--quiet", "--overwrite"]
    cmd += ["--out", str(out)]
    subprocess.run(cmd, check=True, cwd=REPO, env=_env(args.np), timeout=args.timeout)
    return crpsgd_metrics(out)


def run_peer(args, impl: str, cfg: dict, seed: int, gamma: float, fstar: float, out: Path) -> dict:
    """One peer script under mpiexec; its JSON."""
    script, extra = SCRIPTS[impl]
    cmd = [*_launcher(args.np), sys.executable, "-m", f"bench.peers.{script}"]
    cmd += ["--data", args.data, "--lam", str(args.lam), "--T", str(args.T), "--seed", str(seed)]
    cmd += [*_algo_flags(cfg), "--gamma", repr(gamma), "--fstar", repr(fstar), "--out", str(out)]
    for attempt in (1, 2):
        job = [*cmd, "--port", str(_free_port()), *extra]
        done = subprocess.run(job, cwd=REPO, env=_env(args.np), timeout=args.timeout)
        if done.returncode == 0:
            return json.loads(out.read_text())
        if attempt == 1:  # gloo's start-up fails now and then ("terminate called ..."): once more
            RETRIED.append(f"{impl} {cfg['label']} seed {seed} T={args.T}: exit {done.returncode}")
            print(f"bench_peers: {impl} exited with {done.returncode}; once more", flush=True)
    raise subprocess.CalledProcessError(done.returncode, job)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--lam", type=float, default=1e-4)
    parser.add_argument("--T", type=int, default=2000000)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--np", type=int, default=2)
    parser.add_argument(
        "--configs",
        default="psgd:4@500000,psgd:64@500000,psgd:4096,cr-psgd:4:1.02",
        help="psgd:B or cr-psgd:B1:RHO, each optionally @T (its own SFO budget per worker)",
    )
    parser.add_argument("--impls", default="crpsgd,mpi-scipy,torch,ddp,horovod")
    parser.add_argument("--target", type=float, default=1e-3)
    parser.add_argument(
        "--gamma-factor",
        dest="gamma_factor",
        type=float,
        default=4.0,
        help="step size for every implementation: this factor times crpsgd's --gamma auto (1/L)",
    )
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument(
        "--resnet-batches",
        dest="resnet_batches",
        default="32,128",
        help="per-rank batches of the ResNet20 round (crpsgd against DDP); empty: skip it",
    )
    parser.add_argument("--out", default="bench/results/peers.json")
    parser.add_argument("--md", default="bench/results/peers.md")
    args = parser.parse_args(argv)
    if not Path(args.data).is_file():
        print(f"bench_peers: data file {args.data} not found", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(",")]
    configs = [parse_config(c) for c in args.configs.split(",")]
    for cfg in configs:
        if cfg.get("batch", cfg.get("b1")) > args.T:
            print(f"bench_peers: {cfg['label']} has no round within T = {args.T}", file=sys.stderr)
            return 2
    impls = args.impls.split(",")
    notes = []
    if importlib.util.find_spec("torch") is None:
        impls = [i for i in impls if i not in ("torch", "ddp", "horovod")]
        notes.append("torch is not installed: the PyTorch rows are skipped")
    if "horovod" in impls and importlib.util.find_spec("horovod") is None:
        impls.remove("horovod")
        notes.append(HOROVOD_NOTE)
    impls = ["crpsgd", *[i for i in impls if i != "crpsgd"]]
    load_before = os.getloadavg()
    started = time.time()
    report_configs = []
    gamma = fstar = None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for cfg in configs:
            run_args = argparse.Namespace(**{**vars(args), "T": cfg.get("T", args.T)})
            print(f"{cfg['label']} (T = {run_args.T}): warm-up", flush=True)
            if gamma is None:  # crpsgd's 1/L and f*, once
                auto = run_crpsgd(run_args, cfg, seeds[0], work / "auto.h5")
                gamma = args.gamma_factor * float(auto["step_size"])
                fstar = float(auto["f_star"])
            warm = argparse.Namespace(**{**vars(run_args), "T": min(run_args.T, WARM_T)})
            run_crpsgd(warm, cfg, seeds[0], work / "warm.h5", gamma)
            for impl in impls[1:]:
                run_peer(warm, impl, cfg, seeds[0], gamma, fstar, work / "warm.json")
            per_seed: dict[str, list[dict]] = {impl: [] for impl in impls}
            for seed in seeds:
                for impl in impls:
                    out = work / f"{impl}-{seed}"
                    if impl == "crpsgd":
                        result = run_crpsgd(run_args, cfg, seed, out.with_suffix(".h5"), gamma)
                    else:
                        result = run_peer(
                            run_args, impl, cfg, seed, gamma, fstar, out.with_suffix(".json")
                        )
                    per_seed[impl].append(summarise(result, args.target))
                    s = per_seed[impl][-1]
                    print(
                        f"  seed {seed} {NAMES[impl]:>26}: {s['round_s'] * 1e6:9.1f} us/round, "
                        f"final f - f* {s['final_f_minus_fstar']:.3e}",
                        flush=True,
                    )
            report_configs.append(
                {
                    **cfg,
                    "T": run_args.T,
                    "rows": aggregate(per_seed, len(seeds)),
                    "per_seed": per_seed,
                }
            )
        resnet_rows = None
        if args.resnet_batches and importlib.util.find_spec("torch") is not None:
            batches = [int(b) for b in args.resnet_batches.split(",")]
            resnet_rows = resnet.measure(
                _launcher(args.np), _env(args.np), work, batches, _free_port
            )
        elif args.resnet_batches:
            notes.append("torch is not installed: the ResNet20 round is skipped")
    notes.append(
        "µs/round: median over rounds of a round's duration (sampling to update), median over "
        "seeds; compute and comm: the medians of those parts (DDP's all-reduce runs inside "
        "backward() and is counted as compute); crpsgd's rounds include its per-round "
        "logging, and its median leaves out the rounds right after an evaluation, whose wall "
        "clock holds the log's flush to disk (the peers log nothing)"
    )
    notes.append(
        "s to target: loop seconds (evaluations excluded, round 1 with its start-up included) "
        "at the first evaluation with f - f* <= target; median over seeds"
    )
    if RETRIED:
        notes.append("peer jobs that failed once and were run again: " + "; ".join(RETRIED))
    report = {
        "command": "python -m bench peers " + " ".join(argv if argv is not None else sys.argv[1:]),
        "np": args.np,
        "launcher": " ".join(_launcher(args.np)),
        "T": args.T,
        "seeds": seeds,
        "target": args.target,
        "lam": args.lam,
        "step_size": gamma,
        "gamma_factor": args.gamma_factor,
        "f_star": fstar,
        "configs": report_configs,
        "resnet20": resnet_rows,
        "notes": notes,
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "seconds": time.time() - started,
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    text = markdown(report) + (resnet.markdown(resnet_rows) if resnet_rows else "")
    Path(args.md).write_text(text)
    print(text)
    print(f"wrote {args.out} and {args.md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
