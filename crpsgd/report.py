"""Plain-text tables of run logs (``crpsgd info``)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from crpsgd.runlog import RunRecord


def _fmt(value: object, spec: str = ".6g") -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else format(value, spec)
    return str(value)


def label(run: RunRecord) -> str:
    """Algorithm and its key parameters, e.g. ``cr-psgd(B1=8,rho=1.2)`` or ``psgd(B=8)``."""
    cfg = run.config
    algo = run.attrs.get("algorithm", "?")
    if algo == "cr-psgd":
        return f"cr-psgd(B1={cfg.get('b1')},rho={cfg.get('rho')})"
    if algo == "psgd":
        return f"psgd(B={cfg.get('batch')})"
    return str(algo)


def summary_table(runs: Sequence[RunRecord]) -> str:
    """One line per run: rounds, SFO per worker, final objective and suboptimality, seconds."""
    header = (
        "run",
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
                _fmt(run.attrs.get("n_workers")),
                _fmt(s.get("rounds")),
                _fmt(s.get("sfo_per_worker")),
                _fmt(s.get("objective"), ".8g"),
                _fmt(s.get("suboptimality"), ".3e"),
                _fmt(s.get("grad_norm_sq"), ".3e"),
                _fmt(s.get("test_accuracy"), ".4f"),
                _fmt(s.get("wall_s"), ".2f"),
                run.status,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def describe(run: RunRecord) -> str:
    """Configuration, provenance and summary of one run."""
    a = run.attrs
    lines = [f"{run.path}: {label(run)}  status: {run.status}"]
    for key in (
        "crpsgd_version",
        "n_workers",
        "seed",
        "data_path",
        "data_shape",
        "data_sha256",
        "test_data_path",
        "mpi_library",
        "start_time",
        "end_time",
        "f_star",
        "smoothness_L",
        "step_size",
    ):
        if key in a and a[key] != "":
            lines.append(f"  {key:16s} {a[key]}")
    lines.append("  config           " + json.dumps(run.config, sort_keys=True))
    rounds = len(run.rounds.get("round", []))
    evals = len(run.eval.get("round", []))
    lines.append(f"  logged           {rounds} round rows, {evals} evaluation rows")
    if run.summary:
        lines.append("")
        lines.append(summary_table([run]))
    return "\n".join(lines)
