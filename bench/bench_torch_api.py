"""``crpsgd.torch.train`` on a user's ``TensorDataset`` against a bare PyTorch loop (issue 18).

For each constant batch ``B`` (one rank, CPU, one thread, in this one process): ``train(build,
TensorDataset(X, y), algo="psgd", batch=B, micro_batch=B, gamma=GAMMA)`` against a bare loop
of the same work -- the same model (same builder and seed), ``B`` indices drawn i.i.d. with
replacement, one forward on ``X[idx]``, cross-entropy, backward, ``torch.optim.SGD(lr=GAMMA)``
step, ``zero_grad``. Data: random float32 inputs of CIFAR-10's shape, 10 classes (the time of
a step does not depend on the values).

**What is timed.** Only the rounds: ``train()``'s start-up (argument checks, reading the
Dataset, building the problem, the log) and its evaluations are not per-round work. They are
subtracted with the run log's own seconds: ``/rounds/wall_s`` is the loop's clock at the end
of each round (``MPI.Wtime`` seconds since the loop began), ``/eval/eval_s`` the seconds of
each evaluation, logged after the round it follows; the time of rounds ``r0+1 .. R`` is
``wall_s[R] - wall_s[r0] - sum(eval_s of the evaluations after rounds r0 .. R-1)``
(:func:`round_seconds`), with ``r0 = WARMUP`` rounds left out as warm-up. The bare loop is
timed with ``time.perf_counter`` over the same steps (its first ``WARMUP`` steps left out).
Everything else in a round is counted: sampling, the round's Allreduce (one rank), the
update, the log row.

Per ``B``: ``repeats`` pairs (``train()`` then bare, alternating which goes first), each a
fresh model; seconds per sample of each repeat; medians; ``ratio`` = train / bare (1.05 is
the 5% target, which the issue sets for ``B >= 64``; ``B = 16`` shows the fixed per-round
cost). ``python -m bench torch-api --out bench/results/torch_api.json`` (minutes) writes the
JSON and a Markdown table beside it (``.md``). Smoke run: ``--batches 4 --rounds 4 --repeats 1
--rows 64``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

GAMMA = 0.01
WARMUP = 2  # rounds (steps) left out at the start of each repeat
TARGET_RATIO = 1.05  # overhead at most 5% ...
TARGET_FROM_BATCH = 64  # ... for B >= 64


def build() -> Any:
    """A small CNN for 3x32x32 inputs and 10 classes (about 0.2 M parameters)."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 8 * 8, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def dataset(rows: int, seed: int = 0) -> Any:
    """``rows`` random CIFAR-shaped float32 inputs with class numbers 0..9."""
    import torch
    from torch.utils.data import TensorDataset

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, 3, 32, 32, generator=g)
    return TensorDataset(x, torch.randint(0, 10, (rows,), generator=g))


def round_seconds(
    wall_s: Sequence[float],
    eval_rounds: Sequence[int],
    eval_s: Sequence[float],
    warmup: int = WARMUP,
) -> tuple[float, int]:
    """``(seconds, rounds)`` of rounds ``warmup+1 .. R`` of a log whose ``/rounds/wall_s`` is
    ``wall_s`` (round ``r`` at index ``r - 1``; seconds since the loop began at the end of each
    round) less the evaluations run between them: those logged with ``round`` in ``[warmup,
    R)``, each ``eval_s`` seconds (an evaluation follows the round it names)."""
    rounds = len(wall_s)
    if rounds <= warmup:
        raise ValueError(f"{rounds} rounds: more than the {warmup} warm-up rounds are needed")
    start = wall_s[warmup - 1] if warmup > 0 else 0.0
    between = sum(s for r, s in zip(eval_rounds, eval_s, strict=True) if warmup <= r < rounds)
    return float(wall_s[-1] - start - between), rounds - warmup


def train_seconds_per_sample(data: Any, batch: int, rounds: int, out: Path) -> float:
    """Seconds per sample of ``train()``'s rounds (:func:`round_seconds` of its log)."""
    import h5py

    from crpsgd.torch import train

    train(
        build,
        data,
        algo="psgd",
        batch=batch,
        micro_batch=batch,
        T=batch * rounds,
        gamma=GAMMA,
        eval_rows=min(256, len(data)),
        eval_factor=1e9,  # the first and the last evaluation only (subtracted anyway)
        threads=1,
        out=str(out),
        overwrite=True,
        quiet=True,
    )
    with h5py.File(out, "r") as log:
        wall = log["rounds/wall_s"][()]
        ev_rounds, ev_s = log["eval/round"][()], log["eval/eval_s"][()]
    seconds, counted = round_seconds(list(wall), list(ev_rounds), list(ev_s))
    return seconds / (counted * batch)


def bare_seconds_per_sample(data: Any, batch: int, rounds: int, seed: int) -> float:
    """Seconds per sample of the bare loop's steps ``WARMUP+1 .. rounds`` (indices drawn
    with ``seed``)."""
    import torch

    x, y = data.tensors
    torch.manual_seed(0)  # as train() builds it with its default seed 0
    model = build()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=GAMMA)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    start = 0.0
    for step in range(rounds):
        if step == WARMUP:
            start = time.perf_counter()
        idx = torch.from_numpy(rng.integers(0, len(x), size=batch))
        loss_fn(model(x[idx]), y[idx]).backward()
        opt.step()
        opt.zero_grad()
    return (time.perf_counter() - start) / ((rounds - WARMUP) * batch)


def summarise(batch: int, train_s: Sequence[float], bare_s: Sequence[float]) -> dict[str, Any]:
    """One row of the result from seconds per sample of each repeat: medians, samples/s and
    ``ratio`` = median train / median bare; ``target_met`` (ratio <= 1.05) for ``B >= 64``,
    ``None`` below."""
    ours, base = float(statistics.median(train_s)), float(statistics.median(bare_s))
    ratio = ours / base
    return {
        "batch": batch,
        "train_s_per_sample": ours,
        "bare_s_per_sample": base,
        "train_samples_per_s": 1.0 / ours,
        "bare_samples_per_s": 1.0 / base,
        "ratio": ratio,
        "overhead": ratio - 1.0,
        "target_met": ratio <= TARGET_RATIO if batch >= TARGET_FROM_BATCH else None,
        "repeats": len(train_s),
        "train_s_each": [float(s) for s in train_s],
        "bare_s_each": [float(s) for s in bare_s],
    }


def markdown(result: dict[str, Any]) -> str:
    """The result as a Markdown table (one row per batch) with its conditions below."""
    lines = [
        "| B | train() samples/s | bare PyTorch samples/s | ratio | overhead | <= 5% |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        met = {True: "yes", False: "no", None: "-"}[row["target_met"]]
        lines.append(
            f"| {row['batch']} | {row['train_samples_per_s']:.1f} | "
            f"{row['bare_samples_per_s']:.1f} | {row['ratio']:.3f} | "
            f"{100 * row['overhead']:+.1f}% | {met} |"
        )
    lines += [
        "",
        f"Medians of {result['repeats']} repeats of {result['rounds']} rounds ({WARMUP} left "
        f"out as warm-up); model: {result['model']}; data: {result['data']}; torch "
        f"{result['torch']}, {result['threads']} thread.",
    ]
    return "\n".join(lines) + "\n"


def measure(
    data: Any,
    batches: Sequence[int],
    rounds: int,
    repeats: int,
    workdir: Path,
    progress: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """:func:`summarise` of ``repeats`` alternating pairs for each batch size."""
    rows = []
    for batch in batches:
        train_s: list[float] = []
        bare_s: list[float] = []
        for rep in range(repeats):
            for kind in ("train", "bare") if rep % 2 == 0 else ("bare", "train"):
                if kind == "train":
                    run = workdir / "run.h5"
                    train_s.append(train_seconds_per_sample(data, batch, rounds, run))
                else:
                    bare_s.append(bare_seconds_per_sample(data, batch, rounds, rep))
        rows.append(summarise(batch, train_s, bare_s))
        r = rows[-1]
        progress(
            f"B={batch}: train() {r['train_samples_per_s']:.1f} samples/s, bare "
            f"{r['bare_samples_per_s']:.1f} samples/s, ratio {r['ratio']:.3f}"
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="16,64,256")
    ap.add_argument("--rounds", type=int, default=40, help="rounds (steps) of each repeat")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rows", type=int, default=8192, help="samples of the TensorDataset")
    ap.add_argument("--out", default=None, help="JSON file; the Markdown table goes beside it")
    args = ap.parse_args(argv)
    if args.rounds <= WARMUP:
        ap.error(f"--rounds {args.rounds}: more than the {WARMUP} warm-up rounds are needed")
    import torch

    torch.set_num_threads(1)
    data = dataset(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(
            data, [int(b) for b in args.batches.split(",")], args.rounds, args.repeats, Path(tmp)
        )
    params = sum(p.numel() for p in build().parameters())
    result = {
        "model": f"small CNN (2 conv, 2 linear; {params} parameters)",
        "data": f"TensorDataset of {args.rows} random float32 (3, 32, 32) inputs, 10 classes",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "rounds": args.rounds,
        "repeats": args.repeats,
        "timing": "train(): the log's round seconds less its evaluations; bare: perf_counter",
        "rows": rows,
    }
    print(markdown(result), end="")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        out.with_suffix(".md").write_text(markdown(result))


if __name__ == "__main__":
    main()
