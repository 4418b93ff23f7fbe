"""Samples per second of a crpsgd round of ResNet20 against a bare PyTorch loop, on one device
(issue 18; ``bench/gpu_check.sh`` runs it with the GPU tests).

**crpsgd**: one round of :class:`~crpsgd.torchprob.problem.TorchProblem` with ``B`` rows:
sample, gather, augment and normalise the batch (on the GPU when the shard fits there), the
forward pass (under ``--amp``), backward into the flat gradient, the round's all-reduce
(``--backend``: MPI or torch.distributed, one rank) and the update of the flat parameters.

**bare**: the PyTorch loop a user would write for the same model and batch size: forward
(under the same autocast), backward, ``torch.optim.SGD.step()``, ``zero_grad()``, on one
augmented, normalised batch prepared on the device beforehand (so that the bare loop does not
pay for its data: the ratio bounds crpsgd's overhead from above).

Both alternate in blocks of ``steps`` steps after ``warmup`` steps each; every block starts
and ends with ``torch.cuda.synchronize()``. Reported: the median of the blocks' samples/s
(samples = ``B`` per step) of each, and crpsgd's over bare's.

``python -m bench.gpu_check --data cifar10:DIR --device cuda --amp bf16 --out FILE.json``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def measure(
    data: str, device: str, batch: int, steps: int, blocks: int, amp: str, backend: str
) -> dict:
    """The samples/s of crpsgd's round and of the bare loop (see the module docstring)."""
    import torch

    from crpsgd.comm.communicator import Communicator
    from crpsgd.data.images import cifar10_shards
    from crpsgd.torchprob.device import amp_context
    from crpsgd.torchprob.problem import TorchProblem
    from crpsgd.torchprob.resnet import resnet20

    shard = cifar10_shards(data, 0, 1)[0]
    if backend == "torch":
        from crpsgd.comm.torch_dist import TorchCommunicator

        comm: Communicator = TorchCommunicator(device=device)
    else:
        comm = Communicator()
    gamma = 0.05
    prob = TorchProblem(
        resnet20(10, 0), shard, rank=0, size=1, seed=0, micro_batch=batch, device=device, amp=amp
    )
    rng = np.random.default_rng(1)

    def crpsgd_round() -> None:
        idx = prob.sample_batch(rng, batch)
        prob.stochastic_grad(prob.x, idx, prob.grad)
        comm.allreduce_mean_(prob.grad)
        prob.apply_step(prob.x, prob.grad, gamma)

    bare = resnet20(10, 0).to(device)
    bare.train()
    opt = torch.optim.SGD(bare.parameters(), lr=gamma)
    loss_fn = torch.nn.CrossEntropyLoss()
    inputs, targets = prob.pipeline.batch(prob.sample_batch(rng, batch), augment=True)
    autocast = amp_context(device, amp)

    def bare_step() -> None:
        with autocast():
            loss = loss_fn(bare(inputs), targets)
        loss.backward()
        opt.step()
        opt.zero_grad()

    rates: dict[str, list[float]] = {"crpsgd": [], "bare": []}
    steps_of: dict[str, Callable[[], None]] = {"crpsgd": crpsgd_round, "bare": bare_step}
    for fn in steps_of.values():  # warm-up: allocations, cuDNN's choice of algorithms
        for _ in range(max(1, steps // 4)):
            fn()
    for _ in range(blocks):
        for name, fn in steps_of.items():
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            _sync(device)
            rates[name].append(batch * steps / (time.perf_counter() - t0))
    ours, base = statistics.median(rates["crpsgd"]), statistics.median(rates["bare"])
    return {
        "model": "resnet20",
        "data": data,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "amp": amp,
        "backend": comm.backend,
        "batch": batch,
        "steps_per_block": steps,
        "blocks": blocks,
        "data_on_device": prob.pipeline.on_device,
        "crpsgd_samples_per_s": ours,
        "bare_samples_per_s": base,
        "ratio": ours / base,
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="cifar10:DIR (e.g. crpsgd digits-cifar10 DIR)")
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--amp", default="bf16", choices=("bf16", "off"))
    ap.add_argument("--backend", default="torch", choices=("torch", "mpi"))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=50, help="steps per timed block")
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--out", default=None, help="JSON file of the result")
    args = ap.parse_args(argv)
    result = measure(
        args.data, args.device, args.batch, args.steps, args.blocks, args.amp, args.backend
    )
    print(
        f"ResNet20, B={result['batch']}, {result['device']}, amp {result['amp']}, "
        f"{result['backend']}: crpsgd {result['crpsgd_samples_per_s']:.0f} samples/s, "
        f"bare PyTorch {result['bare_samples_per_s']:.0f} samples/s, "
        f"ratio {result['ratio']:.3f}"
    )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
