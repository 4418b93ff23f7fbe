"""Speed and memory of a torch round (issue 11), one rank, CPU, one thread.

**Overhead.** For each batch size ``B``: a crpsgd round of ResNet20 through
:class:`~crpsgd.torchprob.problem.TorchProblem` (sample ``B`` rows, build the augmented,
normalised batch, forward + backward into the flat gradient, the round Allreduce, the update)
against a bare PyTorch step of the same batch in the same process (forward, backward,
``torch.optim.SGD.step``, ``zero_grad``) on inputs prepared beforehand. The two alternate,
``repeats`` times each after a warm-up; medians are compared. Target: overhead <= 5% for
``B >= 64``.

**Memory.** Peak resident memory of one round with ``B_t = big`` and ``--micro-batch
micro`` against one plain batch of ``micro``, each in a fresh subprocess: the growth of the
peak (``VmHWM``) over the resident size just before the round, and the total peak; with
glibc's default allocator settings and with a fixed mmap threshold (:data:`ALLOCATORS`).
Target: at most 1.2x.

Data: random uint8 images of CIFAR-10's shape in memory (the time of a round does not depend
on pixel values), unless ``--data cifar10:DIR``; the result file names it.

``python -m bench torch --out bench/results/torch.json`` (full size: batches 64, 128,
256, big batch 4096, micro-batch 128; minutes). Smoke run: ``--batches 8 --big 32 --micro 8
--repeats 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from crpsgd.comm.communicator import Communicator  # noqa: E402
from crpsgd.data.images import ImageShard, cifar10_shards  # noqa: E402

RANDOM_ROWS = 5000


def load(data: str | None) -> tuple[ImageShard, str]:
    if data:
        train, _ = cifar10_shards(data, 0, 1)
        return train, f"{data} (training files)"
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(RANDOM_ROWS, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=RANDOM_ROWS)
    note = f"random uint8 images, {RANDOM_ROWS} rows of shape (3, 32, 32), 10 classes"
    return ImageShard(x, labels, RANDOM_ROWS, 10, "random"), note


def problem_for(shard: ImageShard, micro: int, seed: int = 0):
    from crpsgd.torchprob.problem import TorchProblem
    from crpsgd.torchprob.resnet import resnet20

    return TorchProblem(resnet20(10, seed), shard, rank=0, size=1, seed=seed, micro_batch=micro)


def overhead(shard: ImageShard, batch: int, repeats: int, gamma: float = 0.05) -> dict:
    import torch

    from crpsgd.torchprob.resnet import resnet20

    comm = Communicator()
    prob = problem_for(shard, micro=batch)
    rng = np.random.default_rng(1)
    bare = resnet20(10, 0)
    bare.train()
    opt = torch.optim.SGD(bare.parameters(), lr=gamma)
    loss_fn = torch.nn.CrossEntropyLoss()
    inputs, targets = prob.pipeline.batch(prob.sample_batch(rng, batch), augment=True)

    def crpsgd_round() -> None:
        idx = prob.sample_batch(rng, batch)
        prob.stochastic_grad(prob.x, idx, prob.grad)
        comm.allreduce_mean_(prob.grad)
        prob.apply_step(prob.x, prob.grad, gamma)

    def bare_step() -> None:
        loss_fn(bare(inputs), targets).backward()
        opt.step()
        opt.zero_grad()

    times: dict[str, list[float]] = {"crpsgd": [], "bare": []}
    for fn in (crpsgd_round, bare_step):  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in (("bare", bare_step), ("crpsgd", crpsgd_round)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    ours, base = statistics.median(times["crpsgd"]), statistics.median(times["bare"])
    return {
        "batch": batch,
        "crpsgd_s": ours,
        "bare_s": base,
        "overhead": ours / base - 1.0,
        "bare_samples_per_s": batch / base,
        "repeats": repeats,
    }


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def memory_child(data: str | None, batch: int, micro: int) -> dict:
    """One round in this (fresh) process: resident memory before and peak during."""
    shard, _ = load(data)
    prob = problem_for(shard, micro)
    idx = prob.sample_batch(np.random.default_rng(2), batch)
    before = _status_kib("VmRSS")
    prob.stochastic_grad(prob.x, idx, prob.grad)
    prob.apply_step(prob.x, prob.grad, 0.05)
    peak = _status_kib("VmHWM")
    return {"batch": batch, "micro": micro, "rss_before_kib": before, "peak_kib": peak}


#: glibc raises its mmap threshold after a large block is freed, so later activations of a
#: round come from the heap, where fragmentation keeps some memory resident; a fixed
#: threshold (this environment variable) turns that off. Both are measured.
ALLOCATORS = {
    "glibc default": {},
    "MALLOC_MMAP_THRESHOLD_=131072": {"MALLOC_MMAP_THRESHOLD_": "131072"},
}


def memory(data: str | None, big: int, micro: int) -> dict:
    def child(batch: int, env: dict[str, str]) -> dict:
        cmd = [sys.executable, "-m", "bench", "torch", "--memory-child", str(batch)]
        cmd += ["--micro", str(micro)]
        cmd += ["--data", data] if data else []
        run = subprocess.run(
            cmd, capture_output=True, text=True, check=True, env={**os.environ, **env}
        )
        return json.loads(run.stdout.strip().splitlines()[-1])

    result = {}
    for name, env in ALLOCATORS.items():
        plain, chunked = child(micro, env), child(big, env)
        grow_p = plain["peak_kib"] - plain["rss_before_kib"]
        grow_c = chunked["peak_kib"] - chunked["rss_before_kib"]
        result[name] = {
            "plain": plain,
            "chunked": chunked,
            "growth_ratio": grow_c / max(grow_p, 1),
            "peak_ratio": chunked["peak_kib"] / plain["peak_kib"],
        }
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="64,128,256")
    ap.add_argument("--big", type=int, default=4096)
    ap.add_argument("--micro", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--data", default=None, help="cifar10:DIR (default: random images)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.memory_child is not None:
        print(json.dumps(memory_child(args.data, args.memory_child, args.micro)))
        return
    shard, note = load(args.data)
    result = {
        "data": note,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "overhead": [overhead(shard, int(b), args.repeats) for b in args.batches.split(",")],
        "memory": memory(args.data, args.big, args.micro),
    }
    for row in result["overhead"]:
        print(
            f"B={row['batch']}: crpsgd {row['crpsgd_s']:.3f} s, bare {row['bare_s']:.3f} s "
            f"({row['bare_samples_per_s']:.0f} samples/s), overhead {100 * row['overhead']:+.1f}%"
        )
    for name, mem in result["memory"].items():
        print(
            f"memory ({name}): B_t={args.big} micro {args.micro} vs plain {args.micro}: peak "
            f"growth {mem['growth_ratio']:.2f}x, total peak {mem['peak_ratio']:.2f}x"
        )
    print(f"data: {note}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
