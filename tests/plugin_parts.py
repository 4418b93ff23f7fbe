"""A plugin for the tests: a toy problem and an observing toy schedule, registered from here.

Loaded by ``crpsgd run`` with ``CRPSGD_PLUGINS=tests.plugin_parts`` (no edit of the package):

* ``--problem toy-mean``: ``f(x) = (1/n) sum_i (1/2) ||x - a_i||^2`` with rows
  ``a_i[j] = sin((i + 1) (j + 1))``, ``n = --toy-n``, ``d = --toy-d``; it loads its own data
  (each rank computes its rows), ``L = 1``, the minimiser is the mean row. Its step is
  heavy-ball with momentum ``--toy-beta``, a buffer it keeps in checkpoints.
* ``--schedule toy-noise``: starts at ``B_1 = --toy-b1``; each round carries one extra slot,
  this rank's ``||g_i||^2``, so after the Allreduce it sees ``v = mean_i ||g_i||^2 - ||g||^2``
  (the spread of the workers' gradients) and doubles the batch when ``v > --toy-ratio
  ||g||^2``. Its state (the current batch) goes into checkpoints. With
  ``CRPSGD_TOY_TRACE=FILE``, rank ``r`` appends ``t batch mean_sq grad_sq`` per observed round
to ``FILE.r``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from crpsgd.data.shard import shard_bounds
from crpsgd.params import Param, at_least, positive
from crpsgd.problems.base import Problem
from crpsgd.registry.parts import (
    LoadedData,
    ProblemPart,
    SchedulePart,
    register_problem,
    register_schedule,
)
from crpsgd.schedules.schedule import LocalStats, RoundStats, Schedule


def toy_rows(start: int, stop: int, d: int) -> np.ndarray:
    """Rows ``start .. stop-1`` of the toy data: ``a_i[j] = sin((i + 1) (j + 1))``."""
    i = np.arange(start, stop, dtype=np.float64)[:, None] + 1.0
    return np.sin(i * (np.arange(d, dtype=np.float64)[None, :] + 1.0))


class ToyMean(Problem):
    """The toy objective; its step is heavy-ball, ``m <- beta m + g``, ``x <- x - gamma m``,
    and its momentum ``m`` is per-rank state that a checkpoint must keep."""

    def __init__(self, rows: np.ndarray, n_total: int, beta: float) -> None:
        self.rows = rows
        self.dim = rows.shape[1]
        self.n_local = rows.shape[0]
        self.n_total = n_total
        self.beta = beta
        self.momentum = np.zeros(self.dim)

    def apply_step(self, x: np.ndarray, grad: np.ndarray, gamma: float) -> None:
        self.momentum *= self.beta
        self.momentum += grad
        x -= gamma * self.momentum

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"momentum": self.momentum}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.momentum[:] = arrays["momentum"]

    def stochastic_grad(self, x: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
        out[:] = x - self.rows[idx].mean(axis=0)

    def local_sums(self, x: np.ndarray, grad_out: np.ndarray) -> float:
        diff = x[None, :] - self.rows
        grad_out[:] = diff.sum(axis=0)
        return 0.5 * float((diff * diff).sum())

    def regulariser(self, x: np.ndarray, grad_out: np.ndarray) -> float:
        return 0.0

    def local_smoothness(self) -> float:
        return 1.0


def load_toy(cfg: dict[str, Any], comm: Any) -> LoadedData:
    start, stop = shard_bounds(cfg["toy_n"], comm.rank, comm.size)
    return LoadedData(toy_rows(start, stop, cfg["toy_d"]), cfg["toy_n"])


class NoiseDoubling(Schedule):
    extra_slots = 1

    def __init__(self, b1: int, ratio: float) -> None:
        self.current = b1
        self.ratio = ratio
        self.trace = os.environ.get("CRPSGD_TOY_TRACE")

    def batch(self, t: int) -> int:
        return self.current

    def fill_slots(self, view: np.ndarray, local: LocalStats) -> None:
        view[0] = float(local.grad @ local.grad)

    def observe(self, t: int, stats: RoundStats) -> None:
        grad_sq = float(stats.grad @ stats.grad)
        mean_sq = float(stats.slots[0])
        if self.trace:
            with open(f"{self.trace}.{os.environ.get('PMI_RANK', '0')}", "a") as fh:
                fh.write(f"{t} {stats.batch} {mean_sq!r} {grad_sq!r}\n")
        if mean_sq - grad_sq > self.ratio * grad_sq:
            self.current *= 2

    def state(self) -> dict[str, Any]:
        return {"current": self.current}

    def load_state(self, state: dict[str, Any]) -> None:
        self.current = int(state["current"])


register_problem(
    ProblemPart(
        name="toy-mean",
        help="(1/n) sum 1/2 ||x - a_i||^2 on generated rows (a test plugin)",
        build=lambda ctx: ToyMean(ctx.data.train, ctx.data.n_total, ctx.cfg["toy_beta"]),
        params=(
            Param("toy_n", int, 64, "rows of the toy problem", check=at_least(1)),
            Param("toy_d", int, 3, "dimension of the toy problem", check=at_least(1)),
            Param("toy_beta", float, 0.0, "heavy-ball momentum of the toy step", check=at_least(0)),
        ),
        load_data=load_toy,
    )
)
register_schedule(
    SchedulePart(
        name="toy-noise",
        help="doubles the batch when the workers' gradients spread (a test plugin)",
        build=lambda cfg: NoiseDoubling(cfg["toy_b1"], cfg["toy_ratio"]),
        params=(
            Param("toy_b1", int, 2, "first batch of the toy schedule", check=at_least(1)),
            Param("toy_ratio", float, 1.0, "doubling threshold", check=positive),
        ),
        first_batch="toy_b1",
    )
)
