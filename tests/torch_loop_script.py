"""A user's own loop with ``GrowingBatchSampler`` and ``GradientAverager`` against
``crpsgd.torch.train()`` (run under mpiexec by tests/mpi/test_torch_user_loop.py):
``python tests/torch_loop_script.py SCENARIO OUT_DIR``.

``compare``: for each case (plain step; SGD with momentum; the adaptive schedule; batches
split into micro-batches) train() and the loop of docs/torch-api.md ("Your own loop") from
the same model and data; each rank saves both final parameter vectors and the loop's
batches to OUT_DIR/<case>-rank<r>.pt.
``average``: one averaged gradient of a linear model against the two ranks' own
(OUT_DIR/average-rank<r>.pt).
``resume``: a loop stopped, saved (model, optimizer, sampler state_dicts) and continued
against the whole loop (OUT_DIR/resume-rank<r>.pt).
``documented``: the code block of that section as written, against train() with the
settings it names (OUT_DIR/documented-rank<r>.pt).
``fails``: the loss fails on rank 1 alone inside ``with averager:`` (the job must end).
``bad``: bad input, one case after the other; each rank writes ``<case>: <message>`` of the
UsageError it got (or ``no error``) to OUT_DIR/bad-rank<r>.txt.
"""

import sys
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crpsgd.errors import UsageError  # noqa: E402
from crpsgd.torch import GradientAverager, GrowingBatchSampler, train  # noqa: E402


def classes_data(n: int = 203) -> torch.utils.data.TensorDataset:
    """3 classes of 5 features, odd size: the two shards differ by one row."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 5, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    return torch.utils.data.TensorDataset(x, y)


def net() -> nn.Module:
    torch.manual_seed(7)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))


def user_loop(model, data, loss_fn, make_optimizer, gamma, micro_batch, run):
    """The loop of docs/torch-api.md, "Your own loop" (with train()'s micro-batch split)."""
    sampler = GrowingBatchSampler(data, **run)
    averager = GradientAverager(model, sampler)
    loader = torch.utils.data.DataLoader(data, batch_sampler=sampler)
    optimizer = make_optimizer(model.parameters()) if make_optimizer else None
    batches = []
    for inputs, targets in loader:
        batches.append(len(targets))
        parts = -(-len(targets) // micro_batch)  # train()'s ceil(B / micro_batch) chunks
        for x, y in zip(inputs.tensor_split(parts), targets.tensor_split(parts), strict=True):
            (loss_fn(model(x), y) * (len(y) / len(targets))).backward()
        averager.average()
        if optimizer is not None:
            optimizer.step()
            optimizer.zero_grad()
        else:
            with torch.no_grad():
                for p in model.parameters():
                    p -= gamma * p.grad
                    p.grad.zero_()
    return batches, sampler


def flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


CASES = {
    "plain": ({"T": 400, "b1": 8, "rho": 1.5}, None, 0.2, 128),
    "momentum": (
        {"T": 400, "b1": 8, "rho": 1.5},
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
        None,
        128,
    ),
    "adaptive": ({"T": 500, "b1": 4, "schedule": "adaptive", "eta": 0.5}, None, 0.2, 128),
    "chunks": ({"T": 400, "b1": 8, "rho": 1.5}, None, 0.2, 16),
}


def compare(out: Path) -> None:
    data, loss_fn = classes_data(), nn.CrossEntropyLoss()
    for name, (run, make_optimizer, gamma, micro_batch) in CASES.items():
        run = {**run, "seed": 5}
        keywords = {"micro_batch": micro_batch, "out": str(out / f"{name}.h5")}
        if gamma is not None:
            keywords["gamma"] = gamma
        result = train(
            net(), data, loss=loss_fn, optimizer=make_optimizer, quiet=True, overwrite=True,
            **run, **keywords,
        )  # fmt: skip
        model = net()
        batches, sampler = user_loop(model, data, loss_fn, make_optimizer, gamma, micro_batch, run)
        record = {
            "train": flat(result.model),
            "loop": flat(model),
            "batches": batches,
            "rounds": result.rounds,
            "sfo": result.sfo_per_worker,
            "loop_sfo": sampler.sfo,
        }
        torch.save(record, out / f"{name}-rank{sampler.rank}.pt")


def average(out: Path) -> None:
    """One round of a linear model: the averaged .grad and this rank's own gradient."""
    data = classes_data()
    sampler = GrowingBatchSampler(data, T=50, b1=6, rho=2.0, seed=1)
    torch.manual_seed(3)
    model = nn.Linear(5, 3)
    averager = GradientAverager(model, sampler)
    x, y = next(iter(torch.utils.data.DataLoader(data, batch_sampler=sampler)))
    nn.functional.cross_entropy(model(x), y).backward()
    own = flat_grad(model).clone()
    averager.average()
    record = {"own": own, "averaged": flat_grad(model), "shard": sampler.shard}
    torch.save(record, out / f"average-rank{sampler.rank}.pt")


RESUMED = {
    "norm": {"T": 400, "b1": 4, "schedule": "adaptive", "eta": 0.5, "seed": 2},
    "inner-product": {"T": 400, "b1": 4, "schedule": "adaptive", "adaptive_test": "inner-product"},
}


def resume(out: Path) -> None:
    """The adaptive schedule (norm test; inner-product test, whose state holds an array)
    with SGD and momentum: the whole loop, and the same loop stopped after round 4, its
    states saved to a file, and continued by new objects."""
    records = {name: resume_one(out, run) for name, run in RESUMED.items()}
    torch.save(records, out / f"resume-rank{records['norm']['rank']}.pt")


def resume_one(out: Path, run: dict) -> dict:
    data, loss_fn = classes_data(), nn.CrossEntropyLoss()

    def parts(state=None):
        model = net()
        sampler = GrowingBatchSampler(data, **run)
        averager = GradientAverager(model, sampler)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            sampler.load_state_dict(state["sampler"])
        return model, sampler, averager, optimizer

    def rounds(model, sampler, averager, optimizer, stop=None):
        batches = []
        for inputs, targets in torch.utils.data.DataLoader(data, batch_sampler=sampler):
            loss_fn(model(inputs), targets).backward()
            averager.average()
            optimizer.step()
            optimizer.zero_grad()
            batches.append(len(targets))
            if len(batches) == stop:
                break
        return batches

    model, *rest = parts()
    batches = rounds(model, *rest)
    whole = flat(model)
    model, sampler, averager, optimizer = parts()
    first = rounds(model, sampler, averager, optimizer, stop=4)
    path = out / f"state-rank{sampler.rank}.pt"
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
    saved = sampler.state_dict()
    torch.save({**state, "sampler": saved}, path)
    model, *rest = parts(torch.load(path))
    second = rounds(model, *rest)
    return {
        "batches": batches,
        "resumed_batches": first + second,
        "stopped_after": len(first),
        "whole": whole,
        "resumed": flat(model),
        "rank": sampler.rank,
        "arrays": sorted(saved["schedule_arrays"]),
    }


def documented(out: Path) -> None:
    """The code block of docs/torch-api.md's "Your own loop", run as it is written, and
    train() with the settings the text names."""
    text = (ROOT / "docs" / "torch-api.md").read_text()
    block = text.split("## Your own loop", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(compile(block, "docs/torch-api.md", "exec"), scope)

    def factory() -> nn.Module:
        return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 2))

    result = train(
        factory, scope["data"], loss=scope["loss_fn"], gamma=0.2, T=2000, b1=8, rho=1.2, seed=0,
        out=str(out / "documented.h5"), overwrite=True, quiet=True,
    )  # fmt: skip
    sampler = scope["sampler"]
    record = {
        "train": flat(result.model),
        "loop": flat(scope["model"]),
        "largest": sampler.batch,
        "rounds": (result.rounds, sampler.rounds),
    }
    torch.save(record, out / f"documented-rank{sampler.rank}.pt")


def fails(out: Path) -> None:
    """The user's loss fails on rank 1 alone in round 2, inside ``with averager:``."""
    data = classes_data()
    sampler = GrowingBatchSampler(data, T=60, b1=4, rho=2.0)
    model = nn.Linear(5, 3)

    def loss_fn(output, target):
        if sampler.rank == 1 and sampler.rounds == 2:
            raise RuntimeError("no loss for this batch")
        return nn.functional.cross_entropy(output, target)

    with GradientAverager(model, sampler) as averager:
        for x, y in torch.utils.data.DataLoader(data, batch_sampler=sampler):
            loss_fn(model(x), y).backward()
            averager.average()
    print("returned", sampler.rank)


def flat_grad(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def bad(out: Path) -> None:
    data = classes_data()
    sampler = GrowingBatchSampler(data, T=50, b1=6, rho=2.0)
    cases = {
        "rho": lambda: GrowingBatchSampler(data, T=50, rho=1.0),
        "b1": lambda: GrowingBatchSampler(data, T=50, b1=0),
        "T": lambda: GrowingBatchSampler(data, T=4, b1=8),
        "unknown": lambda: GrowingBatchSampler(data, T=50, batch=4),
        "schedule": lambda: GrowingBatchSampler(data, T=50, schedule="growing"),
        "empty": lambda: GrowingBatchSampler(0, T=50),
        "one-row": lambda: GrowingBatchSampler(1, T=50),
        "no-parameters": lambda: GradientAverager(nn.ReLU(), sampler),
        "not-a-sampler": lambda: GradientAverager(nn.Linear(5, 3), [1, 2]),
        "before-a-round": lambda: GradientAverager(nn.Linear(5, 3), sampler).average(),
    }
    lines = []
    for case, make in cases.items():
        try:
            make()
            lines.append(f"{case}: no error")
        except UsageError as exc:
            lines.append(f"{case}: {exc}")
    (out / f"bad-rank{sampler.rank}.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    scenario, out_dir = sys.argv[1], Path(sys.argv[2])
    {
        "compare": compare,
        "average": average,
        "resume": resume,
        "documented": documented,
        "fails": fails,
        "bad": bad,
    }[scenario](out_dir)
