"""``crpsgd.torch.train`` on every rank (run under mpiexec by tests/mpi/test_torch_api.py):
``python tests/torch_api_script.py SCENARIO OUT_DIR``.

``runs``: a TensorDataset regression (float targets, default MSE), a 4-class Dataset of
16x16 one-channel images (integer targets, BatchNorm) with the plain step and with AdamW;
each rank saves its trained parameters and figures to OUT_DIR/<name>-rank<r>.npz.
``specs``: the model named by strings (writes OUT_DIR/specs.txt).
``fails``: the user's loss fails on one rank during the rounds.
``bad``: train() on bad input, one case after the other; each rank writes a line
``<case>: <message>`` of the UsageError it got (or ``no error``) to OUT_DIR/bad-rank<r>.txt.
"""

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crpsgd.errors import UsageError  # noqa: E402
from crpsgd.torch import train  # noqa: E402

COMMON = {"T": 300, "b1": 8, "rho": 1.3, "seed": 3, "quiet": True, "overwrite": True}


def regression_data(n: int = 200) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(n, 1, generator=g)
    return torch.utils.data.TensorDataset(x, y)


class Quadrants(torch.utils.data.Dataset):
    """16x16 one-channel images of 4 classes: class k brightens quadrant k, plus noise."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.labels = rng.integers(0, 4, size=n)
        self.images = rng.normal(0.0, 0.5, size=(n, 1, 16, 16)).astype(np.float32)
        for i, k in enumerate(self.labels):
            r, c = divmod(int(k), 2)
            self.images[i, 0, 8 * r : 8 * r + 8, 8 * c : 8 * c + 8] += 1.0

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return torch.from_numpy(self.images[i]), int(self.labels[i])


def small_cnn(classes: int = 4) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(64, classes),
    )


def save(out: Path, name: str, result) -> None:
    rank = _rank()
    params = torch.cat([p.detach().reshape(-1) for p in result.model.parameters()])
    np.savez(
        out / f"{name}-rank{rank}.npz",
        params=params.numpy(),
        figures=[result.objective, result.test_accuracy, result.test_loss],
        counts=[result.rounds, result.sfo_per_worker],
    )


def _rank() -> int:
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_rank()


def runs(out: Path) -> None:
    reg = regression_data()
    result = train(
        lambda: nn.Linear(3, 1),
        reg,
        test_data=(reg.tensors[0][:50].numpy(), reg.tensors[1][:50].numpy()),
        gamma=0.1,
        eval_rows=100,
        out=str(out / "regression.h5"),
        **COMMON,
    )
    save(out, "regression", result)
    train_set, test_set = Quadrants(160, 1), Quadrants(40, 2)
    for name, extra in (
        ("plain", {"gamma": 0.2}),
        ("adamw", {"optimizer": lambda p: torch.optim.AdamW(p, lr=0.01)}),
    ):
        result = train(
            small_cnn,
            train_set,
            test_data=test_set,
            eval_rows=64,
            micro_batch=16,
            out=str(out / f"{name}.h5"),
            **extra,
            **COMMON,
        )
        save(out, name, result)


def bad(out: Path) -> None:
    class NotPairs(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 8

        def __getitem__(self, i: int):
            return torch.zeros(3)

    reg = regression_data(16)
    images = Quadrants(16, 1)
    kw = {"gamma": 0.1, "out": str(out / "bad.h5"), **COMMON}
    cases = {
        "not-pairs": lambda: train(lambda: nn.Linear(3, 1), NotPairs(), **kw),
        "too-few-outputs": lambda: train(lambda: small_cnn(3), images, **kw),
        "regression-shape": lambda: train(lambda: nn.Linear(3, 2), reg, **kw),
        "loss-not-scalar": lambda: train(
            lambda: nn.Linear(3, 1), reg, loss=nn.MSELoss(reduction="none"), **kw
        ),
        "test-targets": lambda: train(
            small_cnn,
            images,
            test_data=(np.zeros((8, 1, 16, 16), np.float32), np.arange(8)),
            **kw,
        ),
        "unknown": lambda: train(small_cnn, images, bogus_flag=1, **kw),
        "misspelt": lambda: train(small_cnn, images, momentun=0.9, **kw),
    }
    lines = []
    for case, call in cases.items():
        try:
            call()
            message = "no error"
        except UsageError as exc:
            message = str(exc)
        lines.append(f"{case}: {message}\n")
    (out / f"bad-rank{_rank()}.txt").write_text("".join(lines))


def fails(out: Path) -> None:
    """The loss fails on rank 1's 6th call (after the checks, during the rounds)."""
    calls = []

    def flaky(output, target):
        calls.append(1)
        if _rank() == 1 and len(calls) == 6:
            raise RuntimeError("boom")
        return nn.functional.mse_loss(output, target)

    train(
        lambda: nn.Linear(3, 1),
        regression_data(),
        loss=flaky,
        gamma=0.1,
        out=str(out / "fails.h5"),
        **COMMON,
    )
    print(f"rank{_rank()}: returned", flush=True)


def specs(out: Path) -> None:
    """The model as 'path/file.py:fn' and 'pkg.module:fn' strings, and a missing file."""
    images, lines = Quadrants(32, 1), []
    for spec in ("tests/torch_api_script.py:small_cnn", "tests.torch_api_script:small_cnn"):
        result = train(spec, images, gamma=0.1, out=str(out / "spec.h5"), **COMMON)
        lines.append(f"{spec}: {result.rounds} rounds, {type(result.model).__name__}\n")
    try:
        train("tests/no_such_file.py:build", images, gamma=0.1, **COMMON)
    except UsageError as exc:
        lines.append(f"missing: {exc}\n")
    (out / "specs.txt").write_text("".join(lines))


if __name__ == "__main__":
    scenario, out_dir = sys.argv[1], Path(sys.argv[2])
    {"runs": runs, "bad": bad, "fails": fails, "specs": specs}[scenario](out_dir)
