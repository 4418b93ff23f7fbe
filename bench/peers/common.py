"""What every peer implementation of ``python -m bench peers`` shares with crpsgd's run.

The problem (l2 logistic regression, ``f(x) = (1/n) sum_i log(1 + exp(-b_i a_i.x)) +
(lam/2) ||x||^2``), the data split (rank ``r`` of ``N`` owns the contiguous rows of
:func:`crpsgd.data.shard.shard_bounds`), the random stream of each rank
(:func:`crpsgd.data.rng.worker_rng`), the sampling rule (``B`` row numbers i.i.d. with replacement
from the shard, sorted: :func:`crpsgd.algorithms.parallel_sgd.sample_indices`), the batch
sizes (:func:`crpsgd.schedules.schedule.batch_sequence`, so CR-PSGD's ``floor(rho^(t-1) B_1)`` is
the same integer sequence), the start ``x = 0``, the step size ``gamma`` (crpsgd's ``--gamma
auto``, passed in) and the evaluation points (SFO spaced by the factor 1.25, plus the last
round). The objective at an evaluation point is computed by rank 0 with SciPy on all rows,
outside the timed loop, the same way for every implementation.

A peer script records, per round, the seconds of its compute (sampling, gradient, update)
and of its communication, and writes one JSON file (rank 0).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse

REPO = Path(__file__).resolve().parents[2]

from crpsgd.algorithms.parallel_sgd import sample_indices  # noqa: E402
from crpsgd.data.libsvm import read_libsvm  # noqa: E402
from crpsgd.data.rng import worker_rng  # noqa: E402
from crpsgd.data.shard import shard_bounds  # noqa: E402
from crpsgd.schedules.schedule import ConstantBatch, ExponentialBatch, batch_sequence  # noqa: E402

EVAL_FACTOR = 1.25


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags every peer script takes (the driver passes the same to all)."""
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--n-features", dest="n_features", type=int, default=123)
    p.add_argument("--lam", type=float, default=1e-4)
    p.add_argument("--algo", choices=("psgd", "cr-psgd"), required=True)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--b1", type=int, default=4)
    p.add_argument("--rho", default="1.2")
    p.add_argument("--T", type=int, required=True)
    p.add_argument("--gamma", type=float, required=True)
    p.add_argument("--fstar", type=float, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--port", type=int, default=29500, help="torch.distributed rendezvous")
    p.add_argument("--ddp", action="store_true", help="torch: DistributedDataParallel")
    return p.parse_args(argv)


def launcher_rank_size() -> tuple[int, int]:
    """Rank and size from the launcher's environment (MPICH's Hydra, Open MPI, SLURM)."""
    for rank_var, size_var in (
        ("PMI_RANK", "PMI_SIZE"),
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ("SLURM_PROCID", "SLURM_NTASKS"),
    ):
        if rank_var in os.environ:
            return int(os.environ[rank_var]), int(os.environ[size_var])
    return 0, 1


def batches(args: argparse.Namespace) -> list[int]:
    """The per-worker batch of every round within the budget ``T``."""
    if args.algo == "psgd":
        return batch_sequence(ConstantBatch(args.batch), args.T)
    return batch_sequence(ExponentialBatch(args.b1, float(args.rho)), args.T)


@dataclass
class Problem:
    """The full data (for evaluation) and this rank's shard, as CSR."""

    X: scipy.sparse.csr_matrix
    y: np.ndarray
    lam: float
    start: int
    stop: int

    @property
    def shard(self) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
        return self.X[self.start : self.stop], self.y[self.start : self.stop]

    def objective(self, x: np.ndarray) -> float:
        """``f(x)`` on all rows (float64, SciPy)."""
        margins = self.y * (self.X @ x)
        return float(np.mean(np.logaddexp(0.0, -margins)) + 0.5 * self.lam * x @ x)


def load(args: argparse.Namespace, rank: int, size: int) -> Problem:
    """Read the data (every rank reads the whole file, as crpsgd does for LIBSVM text)."""
    ds = read_libsvm(args.data, n_features=args.n_features)
    X = scipy.sparse.csr_matrix((ds.data, ds.indices, ds.indptr), shape=(ds.n_rows, ds.n_features))
    start, stop = shard_bounds(ds.n_rows, rank, size)
    return Problem(X, ds.y, args.lam, start, stop)


@dataclass
class Recorder:
    """Per-round seconds, evaluations at geometric SFO points, and the JSON result."""

    args: argparse.Namespace
    problem: Problem
    rank: int
    size: int
    implementation: str
    barrier: Callable[[], None]
    compute_s: list[float] = field(default_factory=list)
    comm_s: list[float] = field(default_factory=list)
    round_s: list[float] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    sfo: int = 0
    loop_s: float = 0.0  # seconds of rounds only (evaluations excluded)
    _last_eval_sfo: int = 0

    def rng(self) -> np.random.Generator:
        return worker_rng(self.args.seed, self.rank)

    def sample(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        return sample_indices(rng, self.problem.stop - self.problem.start, batch)

    def evaluate(self, x_of: Callable[[], np.ndarray]) -> None:
        """Evaluate on rank 0 (outside the timed loop; ``x_of()`` gives the iterate), then a
        barrier, so that the next round starts together on all ranks as after crpsgd's
        collective evaluation."""
        if self.rank == 0:
            f = self.problem.objective(np.asarray(x_of(), dtype=np.float64))
            self.evals.append(
                {
                    "sfo_per_worker": self.sfo,
                    "loop_s": self.loop_s,
                    "f_minus_fstar": f - self.args.fstar,
                }
            )
        self._last_eval_sfo = self.sfo
        self.barrier()

    def begin(self, x_of: Callable[[], np.ndarray]) -> None:
        """Evaluate the start (as crpsgd does) before the first round."""
        self.evaluate(x_of)

    def round_done(
        self, batch: int, compute: float, comm: float, total: float, x_of: Callable[[], np.ndarray]
    ) -> None:
        """Count a round of ``batch`` samples per worker: its compute and communication
        seconds and its whole duration ``total`` (start of sampling to end of update)."""
        self.sfo += batch
        self.compute_s.append(compute)
        self.comm_s.append(comm)
        self.round_s.append(total)
        self.loop_s += total
        if self.sfo >= EVAL_FACTOR * self._last_eval_sfo:
            self.evaluate(x_of)

    def finish(self, x_of: Callable[[], np.ndarray], extra: dict | None = None) -> None:
        if self._last_eval_sfo != self.sfo:
            self.evaluate(x_of)
        if self.rank != 0:
            return
        result = {
            "implementation": self.implementation,
            "n_ranks": self.size,
            "rounds": len(self.round_s),
            "sfo_per_worker": self.sfo,
            "loop_s": self.loop_s,
            "round_s": self.round_s,
            "compute_s": self.compute_s,
            "comm_s": self.comm_s,
            "evals": self.evals,
            **(extra or {}),
        }
        Path(self.args.out).write_text(json.dumps(result))


def now() -> float:
    return time.perf_counter()
