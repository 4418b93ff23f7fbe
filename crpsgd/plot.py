"""``crpsgd plot``: the paper's panels from any set of run logs (matplotlib, optional extra).

For each metric (one row of panels) two panels share the y axis:

* the metric against **SFO per worker** (linear x, as the paper's "# of SFO access" axis);
* the metric against **communication rounds** (log x; round 0, the initial point, is left
  out of that panel since it has no place on a log axis).

Metrics: ``suboptimality`` (``f - f*``, log y), ``objective`` (``f``), ``grad_norm_sq``
(``||grad f||^2``, log y). ``auto`` picks ``suboptimality`` when every run knows ``f*``,
``objective`` and ``grad_norm_sq`` when some run is a non-convex problem, else ``objective``.
One line per run, labelled by algorithm and key parameters and by whatever else differs
between the runs given (data, problem, ``N``, seed, ``T``, ``lambda``, step size, and the
file stem when those leave two runs alike: :func:`crpsgd.report.distinguishing_labels`).
The legend sits below the panels, outside every axes, so it never covers a curve. Writes
``OUT.png`` and ``OUT.pdf``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from crpsgd.atomic_write import AtomicFiles
from crpsgd.errors import UsageError
from crpsgd.report import data_note, distinguishing_labels
from crpsgd.runlog import RunRecord

AXIS_LABELS = {
    "suboptimality": r"$f(x) - f^*$",
    "objective": r"$f(x)$",
    "grad_norm_sq": r"$\|\nabla f(x)\|^2$",
}
LOG_Y = {"suboptimality": True, "objective": False, "grad_norm_sq": True}
CONVEX_PROBLEMS = ("logreg",)


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UsageError(
            "crpsgd plot needs matplotlib: pip install 'crpsgd[plot]' (or matplotlib)"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _has_fstar(run: RunRecord) -> bool:
    value = run.attrs.get("f_star")
    return isinstance(value, (int, float)) and not math.isnan(value)


def choose_metrics(runs: Sequence[RunRecord], requested: Sequence[str] = ("auto",)) -> list[str]:
    """The metrics to draw, one row of panels each (see the module docstring for ``auto``)."""
    metrics: list[str] = []
    for m in requested:
        if m != "auto":
            metrics.append(m)
        elif any(r.attrs.get("problem", "logreg") not in CONVEX_PROBLEMS for r in runs):
            metrics += ["objective", "grad_norm_sq"]
        elif all(_has_fstar(r) for r in runs):
            metrics.append("suboptimality")
        else:
            metrics.append("objective")
    return list(dict.fromkeys(metrics))


def run_labels(runs: Sequence[RunRecord]) -> list[str]:
    """Algorithm and parameters, plus every field in which the runs differ."""
    return distinguishing_labels(runs)


def plot_runs(
    runs: Sequence[RunRecord],
    out: str | Path,
    metrics: Sequence[str] = ("auto",),
    title: str | None = None,
    formats: Sequence[str] = ("png", "pdf"),
    labels: Sequence[str] | None = None,
) -> list[Path]:
    """Draw the panels of ``runs`` and save ``out.<format>`` for each format; returns the paths."""
    plt = _pyplot()
    fig = draw(runs, metrics, title, labels)
    out = Path(out)
    if out.suffix.lower() in (".png", ".pdf"):
        out = out.with_suffix("")
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    with AtomicFiles() as files:  # temporaries renamed at the end; links, FIFOs refused
        for fmt in formats:
            path = out.with_name(f"{out.name}.{fmt}")
            fig.savefig(
                files.temp(path, f"--out={path}"),
                format=fmt,
                dpi=110,
                bbox_inches="tight",
                bbox_extra_artists=fig.legends,
            )
            written.append(path)
    plt.close(fig)
    return written


def draw(
    runs: Sequence[RunRecord],
    metrics: Sequence[str] = ("auto",),
    title: str | None = None,
    labels: Sequence[str] | None = None,
):
    """The matplotlib figure of :func:`plot_runs`, its legend in ``fig.legends[0]``."""
    if not runs:
        raise UsageError("crpsgd plot: no run logs given")
    plt = _pyplot()
    chosen = choose_metrics(runs, metrics)
    for m in chosen:
        if m not in AXIS_LABELS:
            raise UsageError(f"--metric={m}: must be one of auto, {', '.join(AXIS_LABELS)}")
        if m == "suboptimality":
            missing = [str(r.path) for r in runs if not _has_fstar(r)]
            if missing:
                raise UsageError(
                    f"--metric=suboptimality: no f* in {', '.join(missing)} (run with --fstar)"
                )
    names = list(labels) if labels is not None else run_labels(runs)
    fig, axes = plt.subplots(
        len(chosen), 2, figsize=(11, 3.8 * len(chosen)), squeeze=False, sharey="row"
    )
    cmap = plt.get_cmap("tab10" if len(runs) <= 10 else "tab20")
    for row, metric in enumerate(chosen):
        ax_sfo, ax_rounds = axes[row]
        for i, run in enumerate(runs):
            ev = run.eval
            if metric not in ev or len(ev[metric]) == 0:
                continue
            y = np.asarray(ev[metric], dtype=float)
            sfo = np.asarray(ev["sfo_per_worker"], dtype=float)
            rounds = np.asarray(ev["round"], dtype=float)
            if LOG_Y[metric]:
                y = np.where(y > 0, y, np.nan)
            style = {"color": cmap(i % cmap.N), "marker": ".", "markersize": 3, "linewidth": 1.2}
            ax_sfo.plot(sfo, y, label=names[i], **style)
            keep = rounds > 0
            ax_rounds.plot(rounds[keep], y[keep], **style)
        ax_sfo.set_xlabel("SFO per worker")
        ax_rounds.set_xlabel("communication rounds")
        ax_rounds.set_xscale("log")
        ax_sfo.set_ylabel(AXIS_LABELS[metric])
        for ax in (ax_sfo, ax_rounds):
            if LOG_Y[metric]:
                ax.set_yscale("log")
            ax.grid(True, which="major", alpha=0.3)
    notes = sorted({n for n in map(data_note, runs) if n})
    if title or notes:  # a figure on stand-in data says so
        fig.suptitle("; ".join(filter(None, [title or "", *(f"data: {n}" for n in notes)])))
    fig.tight_layout()
    handles, texts = axes[0][0].get_legend_handles_labels()
    ncol = max(1, min(len(texts), 2 if max(map(len, texts), default=0) > 40 else 3))
    fig.legend(
        handles,
        texts,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=ncol,
        fontsize=7,
        frameon=False,
    )
    return fig
