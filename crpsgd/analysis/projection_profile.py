"""The measured side of ``crpsgd project`` (:mod:`crpsgd.analysis.projection` has the model): a run
log's schedule, its per-round compute fit, driver seconds and Allreduce size, all read from
the log's rounds, never from start-up or evaluation seconds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from crpsgd.errors import UsageError

if TYPE_CHECKING:
    from crpsgd.runlog import RunRecord


@dataclass(frozen=True)
class RunProfile:
    """What the projection needs from one run log (seconds are rank 0's)."""

    label: str
    n_workers: int
    batches: np.ndarray  # B_t per round (int64)
    local_steps: np.ndarray  # H_t per round (int64)
    compute_s: float  # measured, all rounds (round 1's compilation included)
    comm_s: float  # measured
    other_s: float  # driver seconds outside compute, Allreduce and evaluations: R * o
    buffer_bytes: int
    fixed_s: float  # a: compute seconds per round independent of the batch
    seconds_per_sample: float  # c
    one_batch: bool = False  # one batch size throughout: a and c not separable (a = 0)
    #: SFO per worker of each round where its inner batches differ (a growing inner batch:
    #: the steps of ``sfo_per_worker``), else None: ``B_t H_t``.
    samples: np.ndarray | None = None

    @property
    def rounds(self) -> int:
        return int(self.batches.size)


def fit_compute(samples: np.ndarray, seconds: np.ndarray) -> tuple[float, float]:
    """``(a, c)`` of ``seconds_t ~ a + c samples_t`` by least squares, both kept >= 0.

    With one sample count throughout (or a negative fitted part) the fit is ``a = 0`` and
    ``c = sum seconds / sum samples``; an empty series gives ``(0, 0)``."""
    samples = np.asarray(samples, dtype=np.float64)
    seconds = np.asarray(seconds, dtype=np.float64)
    total = samples.sum()
    if total <= 0:
        return 0.0, 0.0
    if np.ptp(samples) > 0:
        slope, intercept = np.polyfit(samples, seconds, 1)
        if slope > 0 and intercept >= 0:
            return float(intercept), float(slope)
    return 0.0, float(seconds.sum() / total)


def driver_seconds_per_round(rounds: dict, evals: dict) -> float:
    """``o``: the seconds of a round outside compute and Allreduce, from the rounds' clock
    (``wall_s`` at the end of each round) over rounds 2..R, less the evaluations between
    them; a log of one round: that round's. Never negative."""
    wall = np.asarray(rounds["wall_s"], dtype=np.float64)
    busy = np.asarray(rounds["compute_s"], dtype=np.float64) + np.asarray(
        rounds["comm_s"], dtype=np.float64
    )
    done = np.asarray(rounds["round"], dtype=np.int64)
    eval_round = np.asarray(evals.get("round", []), dtype=np.int64)
    eval_s = np.asarray(evals.get("eval_s", []), dtype=np.float64)
    if wall.size == 0:
        return 0.0
    if wall.size == 1:  # from the start of the loop: the initial evaluation precedes it
        spent = wall[0] - busy[0] - eval_s[eval_round < done[0]].sum()
        return max(float(spent), 0.0)
    between = (eval_round >= done[0]) & (eval_round < done[-1])
    spent = wall[-1] - wall[0] - busy[1:].sum() - eval_s[between].sum()
    return max(float(spent) / (wall.size - 1), 0.0)


def buffer_bytes_of(run: RunRecord) -> int:
    """Bytes of one round's Allreduce: ``comm_bytes / rounds`` of the summary, else the
    ``round_buffer_bytes`` the run recorded at its start, else (older logs) the result
    vector's length plus the control slot; one message saying what is missing otherwise."""
    n_bytes, done = run.summary.get("comm_bytes"), run.summary.get("rounds")
    if n_bytes and done:
        return int(round(float(n_bytes) / int(done)))
    if run.attrs.get("round_buffer_bytes"):
        return int(run.attrs["round_buffer_bytes"])
    if run.x is not None:
        return (int(run.x.size) + 1) * 8  # the vector and the control slot
    raise UsageError(
        f"{run.path}: {run.status_text()}: the log has no summary (comm_bytes), no result "
        "vector and no round_buffer_bytes (written by crpsgd runs since that attribute was "
        "added), so the size of a round's Allreduce is unknown"
    )


def profile_from_record(run: RunRecord, label: str | None = None) -> RunProfile:
    """The :class:`RunProfile` of a run log read by :func:`crpsgd.runlog.read_run`."""
    from crpsgd.analysis.report import label as run_label

    where = str(run.path)
    rows = run.rounds
    if "batch" not in rows or len(rows["batch"]) == 0:
        raise UsageError(f"{where}: the log has no rounds to project")
    batches = np.asarray(rows["batch"], dtype=np.int64)
    steps = np.asarray(rows.get("local_steps", np.ones_like(batches)), dtype=np.int64)
    summary = run.summary
    compute = float(summary.get("compute_s", np.sum(rows["compute_s"])))
    comm = float(summary.get("comm_s", np.sum(rows["comm_s"])))
    samples = batches * steps
    sfo = np.asarray(rows.get("sfo_per_worker", []), dtype=np.int64)
    grown = None
    if sfo.size == batches.size and sfo.size > 1:
        steps_of_sfo = np.diff(sfo, prepend=sfo[0] - samples[0])
        if not np.array_equal(steps_of_sfo, samples):  # inner batches that differ
            samples = grown = steps_of_sfo
    per_round = np.asarray(rows["compute_s"], dtype=np.float64)
    fitted = slice(1, None) if batches.size > 1 else slice(None)
    fixed, per_sample = fit_compute(samples[fitted], per_round[fitted])
    return RunProfile(
        label=label or run_label(run),
        n_workers=int(run.attrs.get("n_workers", 1)),
        batches=batches,
        local_steps=steps,
        compute_s=compute,
        comm_s=comm,
        other_s=batches.size * driver_seconds_per_round(rows, run.eval),
        buffer_bytes=buffer_bytes_of(run),
        fixed_s=fixed,
        seconds_per_sample=per_sample,
        one_batch=bool(np.ptp(samples[fitted]) == 0),
        samples=grown,
    )
