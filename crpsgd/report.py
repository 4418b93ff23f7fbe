"""Plain-text tables of run logs (``crpsgd info``, ``crpsgd report``) and the names that tell
several runs apart (also the legend entries of ``crpsgd plot``)."""

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


def label(run: RunRecord, gamma: bool = False) -> str:
    """Algorithm and its key parameters, e.g. ``cr-psgd(B1=8,rho=1.2)`` or ``psgd(B=8)``;
    ``gamma=True`` adds the step size actually used."""
    cfg = run.config
    algo = run.attrs.get("algorithm", "?")
    if algo == "cr-psgd":
        parts = [f"B1={cfg.get('b1')}", f"rho={cfg.get('rho')}"]
    elif algo == "psgd":
        parts = [f"B={cfg.get('batch')}"]
    elif algo == "cr-psgd-catalyst":
        theta = run.attrs.get("theta", cfg.get("theta"))
        theta = format(theta, ".3g") if isinstance(theta, float) else theta
        parts = [f"B1={cfg.get('b1')}", f"rho={cfg.get('rho')}", f"theta={theta}"]
    elif algo == "local-sgd":
        period = run.attrs.get("period", cfg.get("period"))
        parts = [f"b={cfg.get('batch')}", f"H={period}"]
    else:
        parts = []
    if gamma and isinstance(run.attrs.get("step_size"), float):
        parts.append(f"gamma={run.attrs['step_size']:.3g}")
    return f"{algo}({','.join(parts)})" if parts else str(algo)


#: Settings that may tell runs apart, in the order shown (read by :func:`_field`).
DISTINGUISHING = ("data", "problem", "N", "seed", "T", "lam", "gamma")


_DEFAULTS = {"density=1.0", "noise=0.05", "scale=1.0"}  # crpsgd.data.synthetic


def _data_name(run: RunRecord) -> str:
    path = str(run.attrs.get("data_path") or run.config.get("data") or "?")
    if run.attrs.get("data_kind") == "synthetic" or path.startswith("synthetic"):
        # the canonical spec without the keys at their defaults
        keys = [kv for kv in path.partition(":")[2].split(",") if kv and kv not in _DEFAULTS]
        return "synthetic:" + ",".join(keys)
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    note = data_note(run)
    return f"{name} [{note}]" if note else name


def data_note(run: RunRecord) -> str:
    """The short form of the log's ``data_note`` (up to its first colon): what the data is
    when its name does not say it, e.g. "scikit-learn digits stand-in (not CIFAR-10)"; ""
    for real data."""
    note = str(run.attrs.get("data_note") or "")
    return "" if note in ("", "CIFAR-10 binary version") else note.split(":", 1)[0].strip()


def _field(run: RunRecord, name: str) -> str:
    if name == "data":
        return _data_name(run)
    if name == "problem":
        return str(run.attrs.get("problem") or run.config.get("problem") or "logreg")
    if name == "N":
        return _fmt(run.attrs.get("n_workers"))
    if name == "gamma":
        return _fmt(run.attrs.get("step_size"), ".3g")
    if name == "seed":
        return _fmt(run.attrs.get("seed", run.config.get("seed")))
    return _fmt(run.config.get(name))


def differing(runs: Sequence[RunRecord]) -> list[str]:
    """The fields of :data:`DISTINGUISHING` whose values are not all equal across ``runs``,
    plus ``file`` (the log's stem) when those still leave two runs with the same name."""
    fields = [f for f in DISTINGUISHING if len({_field(r, f) for r in runs}) > 1]
    names = [(label(r), *(_field(r, f) for f in fields)) for r in runs]
    if len(set(names)) < len(names):
        fields.append("file")
    return fields


def distinguishing_labels(runs: Sequence[RunRecord], gamma: bool = True) -> list[str]:
    """One name per run: algorithm and parameters, then ``key=value`` for each field of
    :func:`differing` (``gamma`` only when not already in the algorithm's label)."""
    fields = [f for f in differing(runs) if not (gamma and f == "gamma")]
    out = []
    for r in runs:
        extra = [f"{f}={r.path.stem if f == 'file' else _field(r, f)}" for f in fields]
        out.append(" ".join([label(r, gamma=gamma), *extra]))
    return out


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
                "data": _data_name(run),
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


def comparison_table(
    runs: Sequence[RunRecord], target: float | None = None, metric: str | None = None
) -> str:
    """The table of ``crpsgd report``: rounds, SFO, final objective, rounds (and SFO) to reach
    ``target`` and wall seconds split into compute / communication / evaluation."""
    rows = comparison_rows(runs, target, metric)
    extra = [f for f in differing(runs) if f not in ("gamma", "N")]
    header = ["run", *extra, "N", "rounds", "SFO/worker", "objective", "f - f*", "||grad||^2"]
    if target is not None:
        header += ["rounds@target", "SFO@target"]
    header += ["wall s", "compute s", "comm s", "eval s", "status"]
    table = [tuple(header)]
    for run, r in zip(runs, rows, strict=True):
        cells = [
            r["run"],
            *(run.path.stem if f == "file" else _field(run, f) for f in extra),
            _fmt(r["N"]),
            _fmt(r["rounds"]),
            _fmt(r["sfo_per_worker"]),
            _fmt(r["objective"], ".8g"),
            _fmt(r["suboptimality"], ".3e"),
            _fmt(r["grad_norm_sq"], ".3e"),
        ]
        if target is not None:
            never = "never"
            cells += [
                _fmt(r["rounds_to_target"]) if r["rounds_to_target"] is not None else never,
                _fmt(r["sfo_to_target"]) if r["sfo_to_target"] is not None else never,
            ]
        cells += [
            _fmt(r["wall_s"], ".2f"),
            _fmt(r["compute_s"], ".2f"),
            _fmt(r["comm_s"], ".2f"),
            _fmt(r["eval_s"], ".2f"),
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
                *(run.path.stem if f == "file" else _field(run, f) for f in extra),
                _fmt(run.attrs.get("n_workers")),
                _fmt(s.get("rounds")),
                _fmt(s.get("sfo_per_worker")),
                _fmt(s.get("objective"), ".8g"),
                _fmt(s.get("suboptimality"), ".3e"),
                _fmt(s.get("grad_norm_sq"), ".3e"),
                _fmt(s.get("test_accuracy"), ".4f"),
                _fmt(s.get("wall_s"), ".2f"),
                run.status_text(),
            )
        )
    return _align(rows)


def describe(run: RunRecord) -> str:
    """Configuration, provenance and summary of one run."""
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
        "test_data_path",
        "mpi_library",
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
    if run.summary:
        lines.append("")
        lines.append(summary_table([run]))
    return "\n".join(lines)
