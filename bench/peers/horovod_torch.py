"""PSGD / CR-PSGD with Horovod's PyTorch API (``horovod.torch``), when Horovod is installed.

``mpiexec -n 2 python -m bench.peers.horovod_torch --data a9a --algo psgd --batch 4 ...``
(flags: :func:`common.parse_args`). The model and loss as in ``torch_gloo.py``; the gradient
is averaged by ``hvd.allreduce_(grad, op=hvd.Average)``, one per round.
"""

from __future__ import annotations

import horovod.torch as hvd
import numpy as np
import torch

from bench.peers import common  # noqa: E402


def main() -> None:
    args = common.parse_args()
    hvd.init()
    rank, size = hvd.rank(), hvd.size()
    torch.set_num_threads(1)
    problem = common.load(args, rank, size)
    A, b = problem.shard
    features = torch.from_numpy(A.toarray())
    targets = torch.from_numpy((b + 1.0) / 2.0).unsqueeze(1)
    model = torch.nn.Linear(A.shape[1], 1, bias=False, dtype=torch.float64)
    torch.nn.init.zeros_(model.weight)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    opt = torch.optim.SGD(model.parameters(), lr=args.gamma)

    def barrier() -> None:
        hvd.allreduce(torch.zeros(1), name="barrier")

    rec = common.Recorder(args, problem, rank, size, "Horovod (PyTorch)", barrier)
    rng = rec.rng()

    def iterate() -> np.ndarray:
        return model.weight.detach().numpy().ravel()

    rec.begin(iterate)
    for batch in common.batches(args):
        t0 = common.now()
        idx = torch.from_numpy(rec.sample(rng, batch))
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(features[idx]), targets[idx])
        loss = loss + 0.5 * args.lam * model.weight.pow(2).sum()
        loss.backward()
        t1 = common.now()
        hvd.allreduce_(model.weight.grad, op=hvd.Average, name="grad")
        t2 = common.now()
        opt.step()
        t3 = common.now()
        rec.round_done(batch, (t1 - t0) + (t3 - t2), t2 - t1, t3 - t0, iterate)
    rec.finish(iterate, {"horovod": hvd.__version__ if hasattr(hvd, "__version__") else "?"})


if __name__ == "__main__":
    main()
