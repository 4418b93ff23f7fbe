"""Plain-text tables of run logs (``crpsgd info``, ``crpsgd report``); the names that tell
several runs apart are in :mod:`crpsgd.analysis.labels`."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from crpsgd.analysis.labels import (
    DISTINGUISHING,
    data_name,
    data_note,
    differing,
    distinguishing_labels,
    field,
    format_value,
    label,
)
from crpsgd.runlog import RunRecord

__all__ = ["DISTINGUISHING", "data_note", "differing", "distinguishing_labels", "label"]
_data_name = data_name  # the name tests and older callers use
_field = field


METRICS = ("suboptimality", "objective", "grad_norm_sq")


def default_metric(run: RunRecord) -> str:
    """``suboptimality`` when the run knows ``f*``, else ``grad_norm_sq``."""
    f_star = run.attrs.get("f_star")
    known = isinstance(f_star, (int, float)) and not math.isnan(f_star)
    return "suboptimality" if known else "grad_norm_sq"


def reached(run: RunRecord, target: float, metric: str) -> tuple[int, int] | None:
    """``(round, SFO per worker)`` of the first evaluation with ``metric <= target``, or None.

    Evaluations are spaced geometrically in SFO (``--eval-factor``), so this is the first
    *logged* point that reached the target: an upper bound on the exact round.
    """
    values = run.eval.get(metric)
    if values is None or len(values) == 0:
        return None
    hits = [i for i, v in enumerate(values) if v <= target]
    if not hits:
        return None
    i = hits[0]
    return int(run.eval["round"][i]), int(run.eval["sfo_per_worker"][i])


def comparison_rows(
    runs: Sequence[RunRecord], target: float | None = None, metric: str | None = None
) -> list[dict[str, object]]:
    """One dict per run: what ``crpsgd report`` prints (and writes as CSV or JSON)."""
    rows = []
    for run in runs:
        s = run.summary
        m = metric or default_metric(run)
        hit = reached(run, target, m) if target is not None else None
        rows.append(
            {
                "run": label(run, gamma=True),
                "path": str(run.path),
                "file": run.path.stem,
                "data": data_name(run),
                "N": run.attrs.get("n_workers"),
                "seed": run.attrs.get("seed"),
                "T": run.config.get("T"),
                "lam": run.config.get("lam"),
                "gamma": run.attrs.get("step_size"),
                "rounds": s.get("rounds"),
                "sfo_per_worker": s.get("sfo_per_worker"),
                "objective": s.get("objective"),
                "suboptimality": s.get("suboptimality"),
                "grad_norm_sq": s.get("grad_norm_sq"),
                "test_accuracy": s.get("test_accuracy"),
                "test_loss": s.get("test_loss"),
                "target_metric": m if target is not None else None,
                "target": target,
                "rounds_to_target": hit[0] if hit else None,
                "sfo_to_target": hit[1] if hit else None,
                "wall_s": s.get("wall_s"),
                "compute_s": s.get("compute_s"),
                "comm_s": s.get("comm_s"),
                "eval_s": s.get("eval_s"),
                "status": run.status,
                "state": run.state,
                "status_text": run.status_text(),
            }
        )
    return rows


#: Columns of ``crpsgd report`` shown when some run logged them: header and format.
TEST_COLUMNS = {"test_accuracy": ("test acc", ".4f"), "test_loss": ("test loss", ".4g")}


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def comparison_table(
    runs: Sequence[RunRecord], target: float | None = None, metric: str | None = None
) -> str:
    """The table of ``crpsgd report``: rounds, SFO, final objective, rounds (and SFO) to reach
    ``target`` and wall seconds split into compute / communication / evaluation."""
    rows = comparison_rows(runs, target, metric)
    extra = [f for f in differing(runs) if f not in ("gamma", "N")]
    header = ["run", *extra, "N", "rounds", "SFO/worker", "objective", "f - f*", "||grad||^2"]
    tests = [k for k in TEST_COLUMNS if any(_finite(r[k]) for r in rows)]
    header += [TEST_COLUMNS[k][0] for k in tests]
    if target is not None:
        header += ["rounds@target", "SFO@target"]
    header += ["wall s", "compute s", "comm s", "eval s", "status"]
    table = [tuple(header)]
    for run, r in zip(runs, rows, strict=True):
        cells = [
            r["run"],
            *(field(run, f) for f in extra),
            format_value(r["N"]),
            format_value(r["rounds"]),
            format_value(r["sfo_per_worker"]),
            format_value(r["objective"], ".8g"),
            format_value(r["suboptimality"], ".3e"),
            format_value(r["grad_norm_sq"], ".3e"),
            *(format_value(r[k], TEST_COLUMNS[k][1]) for k in tests),
        ]
        if target is not None:
            never = "never"
            cells += [
                format_value(r["rounds_to_target"]) if r["rounds_to_target"] is not None else never,
                format_value(r["sfo_to_target"]) if r["sfo_to_target"] is not None else never,
            ]
        cells += [
            format_value(r["wall_s"], ".2f"),
            format_value(r["compute_s"], ".2f"),
            format_value(r["comm_s"], ".2f"),
            format_value(r["eval_s"], ".2f"),
            str(r["status_text"]),
        ]
        table.append(tuple(str(c) for c in cells))
    text = _align(table)
    if target is not None:
        metrics = sorted({str(r["target_metric"]) for r in rows})
        text += (
            f"\n@target: first logged evaluation with {' / '.join(metrics)} <= {target:g} "
            "(evaluations are spaced geometrically in SFO)"
        )
    return text


def _align(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_table(runs: Sequence[RunRecord]) -> str:
    """One line per run: rounds, SFO per worker, final objective and suboptimality, seconds."""
    extra = [f for f in differing(runs) if f != "N"] if len(runs) > 1 else []
    header = (
        "run",
        *extra,
        "N",
        "rounds",
        "SFO/worker",
        "objective",
        "f - f*",
        "||grad||^2",
        "test acc",
        "wall s",
        "status",
    )
    rows = [header]
    for run in runs:
        s = run.summary
        rows.append(
            (
                label(run),
                *(field(run, f) for f in extra),
                format_value(run.attrs.get("n_workers")),
                format_value(s.get("rounds")),
                format_value(s.get("sfo_per_worker")),
                format_value(s.get("objective"), ".8g"),
                format_value(s.get("suboptimality"), ".3e"),
                format_value(s.get("grad_norm_sq"), ".3e"),
                format_value(s.get("test_accuracy"), ".4f"),
                format_value(s.get("wall_s"), ".2f"),
                run.status_text(),
            )
        )
    return _align(rows)


def describe(run: RunRecord) -> str:
    """Configuration, provenance and summary of one run (and, for a torch run, the trained
    ``state_dict`` file ``<out stem>.pt`` beside the log with its size, when it exists)."""
    a = run.attrs
    lines = [f"{run.path}: {label(run)}  status: {run.status_text()}"]
    for key in (
        "format_version",
        "crpsgd_version",
        "n_workers",
        "seed",
        "data_path",
        "data_shape",
        "data_sha256",
        "data_note",
        "eval_rows",
        "model_parameters",
        "optimizer",
        "test_data_path",
        "mpi_library",
        "backend",
        "start_time",
        "end_time",
        "f_star",
        "smoothness_L",
        "step_size",
        "writer_host",
        "writer_pid",
    ):
        if key in a and a[key] != "":
            lines.append(f"  {key:16s} {a[key]}")
    lines.append("  config           " + json.dumps(run.config, sort_keys=True))
    rounds = len(run.rounds.get("round", []))
    evals = len(run.eval.get("round", []))
    lines.append(f"  logged           {rounds} round rows, {evals} evaluation rows")
    state = Path(run.path).with_suffix(".pt")  # a torch run's trained state_dict
    if state.is_file():
        lines.append(f"  state_dict       {state} ({state.stat().st_size} bytes)")
    if run.summary:
        lines.append("")
        lines.append(summary_table([run]))
    return "\n".join(lines)
