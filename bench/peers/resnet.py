"""The ResNet20 round of ``python -m bench peers``: crpsgd's torch path against PyTorch DDP.

Both run ResNet20 (crpsgd's definition, the same initial weights) with the same per-rank
batch ``B``, one torch thread per rank, on ``--np`` ranks started by the same ``mpiexec``, on
the digits stand-in in CIFAR-10's binary format (``crpsgd digits-cifar10``; *not* CIFAR-10,
which is not on these machines: the seconds of a round do not depend on the pixel values):

- ``crpsgd``: ``crpsgd run --problem torch --model resnet20 --algo psgd --batch B`` (flat
  parameter and gradient buffers, one float32 Allreduce per round, the HDF5 log); a round's
  seconds are read from its log (:func:`results.crpsgd_metrics`, rounds after an evaluation
  left out), with the log's compute and communication parts;
- ``ddp``: ``bench/peers/resnet_ddp.py`` (``DistributedDataParallel``, gloo; its all-reduce
  runs inside ``backward()``, so only the whole round is timed).

Each side runs ``warm`` unmeasured rounds, then ``rounds`` measured ones; the two alternate
``repeats`` times and the medians over all measured rounds are compared.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.peers.results import crpsgd_metrics

REPO = Path(__file__).resolve().parents[2]


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def make_standin(work: Path) -> str:
    """Write the digits stand-in under ``work``; its ``cifar10:`` source."""
    out = work / "digits"
    cmd = [sys.executable, "-m", "crpsgd", "digits-cifar10", str(out), "--overwrite"]
    subprocess.run(cmd, check=True, cwd=REPO, capture_output=True)
    return f"cifar10:{out}"


def run_crpsgd_resnet(
    launcher: list[str], env: dict, data: str, batch: int, warm: int, rounds: int, out: Path
) -> dict:
    """``crpsgd run`` of ResNet20 for ``warm + rounds`` rounds of ``batch``; measured rounds."""
    cmd = [*launcher, sys.executable, "-m", "crpsgd", "run", "--problem", "torch"]
    cmd += ["--model", "resnet20", "--data", data, "--algo", "psgd", "--batch", str(batch)]
    cmd += ["--T", str(batch * (warm + rounds)), "--gamma", "0.05", "--eval-rows", "64"]
    cmd += ["--eval-factor", "1e9", "--quiet", "--overwrite", "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=REPO, env=env, timeout=3600)
    m = crpsgd_metrics(out)
    # the only evaluations are the start and the end (--eval-factor 1e9): the one round
    # after an evaluation is round 1, among the unmeasured ones
    keep = range(warm, m["rounds"])
    return {
        "round_s": [m["round_s"][i] for i in keep],
        "compute_s": [m["compute_s"][i] for i in keep],
        "comm_s": [m["comm_s"][i] for i in keep],
    }


def run_ddp_resnet(
    launcher: list[str], env: dict, data: str, batch: int, warm: int, rounds: int, out: Path,
    port: int,
) -> dict:  # fmt: skip
    """``python -m bench.peers.resnet_ddp`` for ``warm + rounds`` rounds of ``batch``."""
    cmd = [*launcher, sys.executable, "-m", "bench.peers.resnet_ddp"]
    cmd += ["--data", data, "--batch", str(batch), "--rounds", str(rounds), "--warm", str(warm)]
    cmd += ["--port", str(port), "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=REPO, env=env, timeout=3600)
    return json.loads(out.read_text())


def measure(
    launcher: list[str],
    env: dict,
    work: Path,
    batches: list[int],
    free_port: Callable[[], int],
    warm: int = 3,
    rounds: int = 10,
    repeats: int = 2,
) -> dict:
    """Seconds per ResNet20 round of crpsgd and DDP at each per-rank batch; their ratio."""
    data = make_standin(work)
    rows = []
    for batch in batches:
        ours: dict[str, list[float]] = {"round_s": [], "compute_s": [], "comm_s": []}
        ddp: list[float] = []
        for rep in range(repeats):
            print(f"ResNet20 B={batch}: repeat {rep + 1}/{repeats}", flush=True)
            got = run_crpsgd_resnet(launcher, env, data, batch, warm, rounds, work / "r.h5")
            for key in ours:
                ours[key] += got[key]
            ddp += run_ddp_resnet(
                launcher, env, data, batch, warm, rounds, work / "r.json", free_port()
            )["round_s"]
        row = {
            "batch": batch,
            "crpsgd_round_s": _median(ours["round_s"]),
            "crpsgd_compute_s": _median(ours["compute_s"]),
            "crpsgd_comm_s": _median(ours["comm_s"]),
            "ddp_round_s": _median(ddp),
            "measured_rounds": len(ddp),
        }
        row["ddp_over_crpsgd"] = row["ddp_round_s"] / row["crpsgd_round_s"]
        rows.append(row)
        print(
            f"  crpsgd {row['crpsgd_round_s']:.3f} s/round, DDP {row['ddp_round_s']:.3f} s/round "
            f"(DDP / crpsgd = {row['ddp_over_crpsgd']:.3f})",
            flush=True,
        )
    return {
        "data": "scikit-learn digits stand-in in CIFAR-10 format (not CIFAR-10)",
        "warm_rounds": warm,
        "rounds_per_repeat": rounds,
        "repeats": repeats,
        "rows": rows,
    }


def markdown(resnet: dict) -> str:
    """The ResNet20 table of ``peers.md``."""
    lines = [
        "",
        f"ResNet20 round, seconds (median of {resnet['repeats']} x "
        f"{resnet['rounds_per_repeat']} rounds; data: {resnet['data']}):",
        "",
        "| B per rank | crpsgd s/round | compute | comm | DDP (gloo) s/round | DDP / crpsgd |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in resnet["rows"]:
        lines.append(
            f"| {r['batch']} | {r['crpsgd_round_s']:.3f} | {r['crpsgd_compute_s']:.3f} | "
            f"{r['crpsgd_comm_s']:.4f} | {r['ddp_round_s']:.3f} | {r['ddp_over_crpsgd']:.2f} |"
        )
    return "\n".join(lines) + "\n"
