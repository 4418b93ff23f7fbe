"""``crpsgd plot``: figures of any set of run logs (matplotlib, optional extra).

One row of panels per metric, one panel per x axis (:mod:`crpsgd.analysis.plot_axes`: test accuracy,
training loss, ``f - f*``, ``||grad f||^2`` or test loss against SFO per worker, epochs,
rounds or seconds), the panels of a row sharing their y axis. The x axes are logarithmic by
default (evaluations are spaced geometrically in SFO, so a linear axis squashes the early
rounds; points at 0 have no place there and are left out) or linear (``xscale``, the
paper's "# of SFO access" axis). One curve per run, labelled by algorithm and key parameters
and by whatever else differs between the runs given
(:func:`crpsgd.analysis.labels.distinguishing_labels`). The legend sits below the panels, outside
every axes; the title and the note of stand-in data sit above them, and all three are kept in the
saved files (PNG, PDF, SVG).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from crpsgd.analysis.labels import data_note, distinguishing_labels
from crpsgd.analysis.plot_axes import (
    METRICS,
    X_AXES,
    XSCALES,
    check_metrics,
    choose_metrics,
    choose_x,
    x_values,
)
from crpsgd.errors import UsageError
from crpsgd.files.atomic_write import AtomicFiles
from crpsgd.files.paths import check_output
from crpsgd.runlog import RunRecord

__all__ = ["choose_metrics", "draw", "plot_runs", "run_labels"]


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


def run_labels(runs: Sequence[RunRecord]) -> list[str]:
    """Algorithm and parameters, plus every field in which the runs differ."""
    return distinguishing_labels(runs)


def check_title(title: str | None) -> None:
    """A title matplotlib cannot render (unbalanced ``$...$`` math) is one message, before
    anything is drawn."""
    if not title:
        return
    plt = _pyplot()
    fig = plt.figure(figsize=(1, 1))
    try:
        fig.suptitle(title)
        fig.canvas.draw()
    except ValueError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"--title={title!r}: matplotlib cannot render it as math text ({first}); "
            r"write a literal dollar sign as \$"
        ) from None
    finally:
        plt.close(fig)


def output_paths(out: str | Path, formats: Sequence[str]) -> list[Path]:
    """``OUT.<format>`` for each format (a ``.png``/``.pdf`` suffix of ``out`` dropped),
    each checked as ``--out`` of ``crpsgd run`` is: missing folders are created, a place
    that cannot be written is one message (:func:`crpsgd.files.paths.check_output`)."""
    out = Path(out)
    if out.suffix.lower() in (".png", ".pdf", ".svg"):
        out = out.with_suffix("")
    paths = [out.with_name(f"{out.name}.{fmt}") for fmt in formats]
    for path in paths:
        check_output("--out", path)
    return paths


def plot_runs(
    runs: Sequence[RunRecord],
    out: str | Path,
    metrics: Sequence[str] = ("auto",),
    title: str | None = None,
    formats: Sequence[str] = ("png", "pdf"),
    labels: Sequence[str] | None = None,
    x: Sequence[str] | None = None,
    xscale: str = "log",
) -> list[Path]:
    """Draw the panels of ``runs`` and save ``out.<format>`` for each format; returns the paths."""
    paths = output_paths(out, formats)
    check_title(title)
    plt = _pyplot()
    fig = draw(runs, metrics, title, labels, x, xscale)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    with AtomicFiles() as files:  # temporaries renamed at the end; links, FIFOs refused
        for path in paths:
            # "tight" keeps every artist of the figure (title, notes, legend): naming only some
            # in bbox_extra_artists would crop the others away
            fig.savefig(
                files.temp(path, f"--out={path}"),
                format=path.suffix[1:],
                dpi=110,
                bbox_inches="tight",
            )
    plt.close(fig)
    return paths


def draw(
    runs: Sequence[RunRecord],
    metrics: Sequence[str] = ("auto",),
    title: str | None = None,
    labels: Sequence[str] | None = None,
    x: Sequence[str] | None = None,
    xscale: str = "log",
):
    """The matplotlib figure of :func:`plot_runs`, its legend in ``fig.legends[0]``."""
    if not runs:
        raise UsageError("crpsgd plot: no run logs given")
    if xscale not in XSCALES:
        raise UsageError(f"--xscale={xscale}: must be one of {', '.join(XSCALES)}")
    plt = _pyplot()
    chosen = choose_metrics(runs, metrics)
    check_metrics(runs, chosen)
    axes_x = choose_x(runs, x)
    for a in axes_x:
        if a not in X_AXES:
            raise UsageError(f"--x={a}: must be one of {', '.join(X_AXES)}")
    names = list(labels) if labels is not None else run_labels(runs)
    fig, axes = plt.subplots(
        len(chosen),
        len(axes_x),
        figsize=(5.5 * len(axes_x), 3.8 * len(chosen)),
        squeeze=False,
        sharey="row",
    )
    cmap = plt.get_cmap("tab10" if len(runs) <= 10 else "tab20")
    xs = {(i, a): x_values(run, a) for i, run in enumerate(runs) for a in axes_x}
    for row, metric in enumerate(chosen):
        for col, axis in enumerate(axes_x):
            ax = axes[row][col]
            for i, run in enumerate(runs):
                y = np.asarray(run.eval[metric], dtype=float)
                if METRICS[metric].log_y:
                    y = np.where(y > 0, y, np.nan)
                xv = xs[(i, axis)]
                keep = xv > 0 if xscale == "log" else np.ones(xv.shape, bool)
                style = {"color": cmap(i % cmap.N), "marker": ".", "markersize": 3}
                ax.plot(xv[keep], y[keep], label=names[i], linewidth=1.2, **style)
            ax.set_xlabel(X_AXES[axis])
            ax.set_xscale(xscale)
            if METRICS[metric].log_y:
                ax.set_yscale("log")
            ax.grid(True, which="major", alpha=0.3)
        axes[row][0].set_ylabel(METRICS[metric].label)
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
