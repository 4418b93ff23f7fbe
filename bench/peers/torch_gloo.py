"""PSGD / CR-PSGD as a PyTorch user writes it: ``torch.distributed`` with gloo on CPU.

``mpiexec -n 2 python -m bench.peers.torch_gloo --data a9a --algo psgd --batch 4 ... [--ddp]``
(flags: :func:`common.parse_args`; the launcher only starts the processes, rank and size come
from its environment and the rendezvous is TCP on 127.0.0.1). The model is a
``torch.nn.Linear(d, 1, bias=False)`` in float64 (the same arithmetic as the others), the
loss ``BCEWithLogitsLoss`` on the labels mapped to {0, 1} (which is ``log(1 + exp(-b a.x))``)
plus ``(lam/2) ||w||^2``, the update ``torch.optim.SGD``. Without ``--ddp``: one
``dist.all_reduce`` of the gradient per round, then division by ``N``; with ``--ddp``:
``DistributedDataParallel`` averages the gradient inside ``backward()`` (its bucketed
all-reduce, overlapped with backward: compute and communication are not separable, and the
whole ``backward()`` is counted as compute).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist

from bench.peers import common  # noqa: E402


def main() -> None:
    args = common.parse_args()
    rank, size = common.launcher_rank_size()
    torch.set_num_threads(1)  # one rank per core
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=rank, world_size=size
    )
    problem = common.load(args, rank, size)
    A, b = problem.shard
    features = torch.from_numpy(A.toarray())  # dense rows, as a torch user holds them
    targets = torch.from_numpy((b + 1.0) / 2.0).unsqueeze(1)
    model = torch.nn.Linear(A.shape[1], 1, bias=False, dtype=torch.float64)
    torch.nn.init.zeros_(model.weight)
    net = torch.nn.parallel.DistributedDataParallel(model) if args.ddp else model
    loss_fn = torch.nn.BCEWithLogitsLoss()
    opt = torch.optim.SGD(model.parameters(), lr=args.gamma)
    name = "PyTorch DDP (gloo)" if args.ddp else "PyTorch all_reduce (gloo)"
    rec = common.Recorder(args, problem, rank, size, name, dist.barrier)
    rng = rec.rng()

    def iterate() -> np.ndarray:
        return model.weight.detach().numpy().ravel()

    rec.begin(iterate)
    dist.barrier()
    for batch in common.batches(args):
        t0 = common.now()
        idx = torch.from_numpy(rec.sample(rng, batch))
        opt.zero_grad(set_to_none=False)
        out = net(features[idx])
        loss = loss_fn(out, targets[idx]) + 0.5 * args.lam * model.weight.pow(2).sum()
        loss.backward()
        t1 = common.now()
        if not args.ddp:
            grad = model.weight.grad
            dist.all_reduce(grad)
            grad /= size
        t2 = common.now()
        opt.step()
        t3 = common.now()
        rec.round_done(batch, (t1 - t0) + (t3 - t2), t2 - t1, t3 - t0, iterate)
    rec.finish(iterate, {"torch": torch.__version__})
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
