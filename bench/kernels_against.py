"""The gradient kernels of the working tree against those of an earlier revision, side by side
in one process: each configuration calls the two alternately on the same data and the same
sorted minibatches, ``--repeats`` times, and reports the median of the per-repeat ratios (so
that the machine's noise, which moves both alike within a repeat, cancels).

    python -m bench kernels-against --rev 9b4ec2b --out bench/results/kernels-against.json

The revision's ``crpsgd/kernels/`` is read with ``git show`` into a temporary package
(``crpsgd_at_rev``; its imports of ``crpsgd.kernels`` point there): only the kernels are taken
from it, data and minibatches are this tree's. Dense: ``n = 200000`` rows of ``d`` standard
normal features; CSR: a9a (``../shared/data/a9a``).
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.bench_kernels import load_a9a
from bench.benchinfo import cpu_model, machine_basics, write_result
from crpsgd.kernels import logistic as now

REPO = Path(__file__).resolve().parents[1]
BATCHES = (256, 4096, 65536, 200000)


def kernels_at(rev: str, into: Path):
    """The module ``crpsgd.kernels.logistic`` as it was at ``rev``, imported from ``into``."""
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", rev, "crpsgd/kernels/"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    package = into / "crpsgd_at_rev" / "kernels"
    package.mkdir(parents=True)
    (into / "crpsgd_at_rev" / "__init__.py").write_text("")
    for name in names:
        if name.endswith(".py"):
            text = subprocess.run(
                ["git", "show", f"{rev}:{name}"], cwd=REPO, capture_output=True, text=True,
                check=True,
            ).stdout  # fmt: skip
            (package / Path(name).name).write_text(
                text.replace("crpsgd.kernels", "crpsgd_at_rev.kernels")
            )
    sys.path.insert(0, str(into))
    return importlib.import_module("crpsgd_at_rev.kernels.logistic")


def paired(before, after, batches, repeats: int) -> dict:
    """Median seconds of each and the median of ``before/after`` per repeat (the speed-up)."""
    for call in (before, after):
        call(batches[0])
    ratios, t_before, t_after = [], [], []
    for r in range(repeats):
        seconds = {}
        for call in (before, after) if r % 2 == 0 else (after, before):
            t0 = time.perf_counter()
            for idx in batches:
                call(idx)
            seconds[call] = time.perf_counter() - t0
        t_before.append(seconds[before])
        t_after.append(seconds[after])
        ratios.append(seconds[before] / seconds[after])
    samples = len(batches) * len(batches[0])
    return {
        "before_samples_per_s": samples / statistics.median(t_before),
        "after_samples_per_s": samples / statistics.median(t_after),
        "after_over_before": statistics.median(ratios),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", required=True, help="the earlier revision (a git commit)")
    ap.add_argument("--out", required=True, help="the JSON file of results")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "a9a"))
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old = kernels_at(args.rev, Path(tmp))
        n = 200000
        for d in (100, 256):
            X = rng.standard_normal((n, d))
            y = np.sign(rng.standard_normal(n))
            x = rng.standard_normal(d) * 0.01
            o1, o2 = np.empty(d), np.empty(d)
            for b in BATCHES:
                idxs = [np.sort(rng.integers(0, n, b)) for _ in range(min(64, max(1, 2**20 // b)))]
                res = paired(
                    lambda i, a=(X, y, x), o=o1: old.logistic_minibatch_grad_dense(*a, i, 1e-4, o),
                    lambda i, a=(X, y, x), o=o2: now.logistic_minibatch_grad_dense(*a, i, 1e-4, o),
                    idxs, args.repeats,
                )  # fmt: skip
                rows.append({"kernel": f"dense d={d}", "batch": b, **res})
        Xs, indptr, indices, data, ya = load_a9a(Path(args.data))
        xa = rng.standard_normal(Xs.shape[1]) * 0.01
        o1, o2 = np.empty(Xs.shape[1]), np.empty(Xs.shape[1])
        for b in BATCHES:
            idxs = [
                np.sort(rng.integers(0, Xs.shape[0], b)) for _ in range(min(64, max(1, 2**20 // b)))
            ]
            csr = (indptr, indices, data, ya, xa)
            res = paired(
                lambda i, a=csr: old.logistic_minibatch_grad_csr(*a, i, 1e-4, o1),
                lambda i, a=csr: now.logistic_minibatch_grad_csr(*a, i, 1e-4, o2),
                idxs, args.repeats,
            )  # fmt: skip
            rows.append({"kernel": "CSR a9a", "batch": b, **res})
    print("| kernel | B | before, Msamples/s | after | after / before |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['kernel']} | {row['batch']} | {row['before_samples_per_s'] / 1e6:.2f} | "
            f"{row['after_samples_per_s'] / 1e6:.2f} | {row['after_over_before']:.2f} |"
        )
    write_result(
        Path(args.out),
        {
            "benchmark": "kernels-against",
            "command": "python -m bench kernels-against " + " ".join(argv or sys.argv[1:]),
            "rev": args.rev,
            "machine": {**machine_basics(), "cpu": cpu_model()},
            "rows": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
