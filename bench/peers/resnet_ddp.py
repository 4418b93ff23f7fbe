"""A ResNet20 round as a PyTorch user writes it: ``DistributedDataParallel`` with gloo on CPU.

``mpiexec -n 2 python -m bench.peers.resnet_ddp --data cifar10:DIR --batch B --rounds R
--warm W --out result.json [--port P]`` (the launcher only starts the processes; rank and
size come from its environment, the rendezvous is TCP on 127.0.0.1).

The model is crpsgd's own ResNet20 definition (:func:`crpsgd.torchprob.resnet.resnet20`, the
same architecture and initial weights, so both sides do the same arithmetic), wrapped in
``DistributedDataParallel``; one torch thread per rank. Each rank holds its contiguous shard
of the training records as a uint8 tensor. A round: draw ``B`` row numbers of the shard
(NumPy, with replacement), gather them, pad by 4, crop a random 32x32 window and flip with
probability 1/2 (one gather per batch, written as a torch user writes it without
torchvision), normalise with CIFAR-10's constants, forward, cross-entropy, ``backward()``
(DDP's bucketed all-reduce runs inside it, overlapped), ``torch.optim.SGD.step()``.

Rank 0 writes ``{"round_s": [...], ...}``: each measured round's seconds (barrier-free; the
all-reduce inside ``backward()`` synchronises the ranks), after ``W`` unmeasured rounds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

REPO = Path(__file__).resolve().parents[2]

from bench.peers import common  # noqa: E402
from crpsgd.data.cifar10 import (  # noqa: E402
    CIFAR10_MEAN,
    CIFAR10_STD,
    cifar10_paths,
    read_cifar10_shard,
)
from crpsgd.torchprob.resnet import resnet20  # noqa: E402

PAD = 4


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random 32x32 crop of the 4-pixel zero-padded uint8 images, then a random mirror."""
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (PAD, PAD, PAD, PAD))
    oy = torch.randint(0, 2 * PAD + 1, (b, 1), generator=gen)
    ox = torch.randint(0, 2 * PAD + 1, (b, 1), generator=gen)
    flip = torch.rand((b, 1), generator=gen) < 0.5
    cols = torch.arange(w).expand(b, w)
    cols = torch.where(flip, w - 1 - cols, cols) + ox
    rows = torch.arange(h).expand(b, h) + oy
    out = padded[torch.arange(b)[:, None, None, None], torch.arange(3)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True, help="cifar10:DIR")
    p.add_argument("--batch", type=int, required=True, help="per-rank minibatch")
    p.add_argument("--rounds", type=int, required=True)
    p.add_argument("--warm", type=int, default=3)
    p.add_argument("--gamma", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--port", type=int, default=29500)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    rank, size = common.launcher_rank_size()
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=rank, world_size=size
    )
    train_paths, _ = cifar10_paths(args.data)
    images, labels, _ = read_cifar10_shard(train_paths, rank, size)
    x_all, y_all = torch.from_numpy(images), torch.from_numpy(labels)
    mean = torch.tensor(CIFAR10_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, dtype=torch.float32).view(1, 3, 1, 1)
    model = resnet20(10, args.seed)
    net = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(net.parameters(), lr=args.gamma)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng([args.seed, rank])
    gen = torch.Generator().manual_seed(args.seed * 1000 + rank)
    times = []
    net.train()
    for r in range(args.warm + args.rounds):
        t0 = time.perf_counter()
        idx = torch.from_numpy(rng.integers(0, len(labels), args.batch))
        x = augment(x_all.index_select(0, idx), gen)
        x = (x.to(torch.float32) / 255.0 - mean) / std
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(net(x), y_all.index_select(0, idx))
        loss.backward()
        opt.step()
        if r >= args.warm:
            times.append(time.perf_counter() - t0)
    if rank == 0:
        Path(args.out).write_text(
            json.dumps({"round_s": times, "batch": args.batch, "ranks": size})
        )
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
