"""What ``crpsgd plot`` can draw: the metrics (one row of panels each) and the x axes (one
panel each), read from a run log's ``/eval`` series.

Metrics: ``suboptimality`` (``f - f*``), ``objective`` (``f``, the training loss),
``grad_norm_sq`` (``||grad f||^2``), ``test_accuracy`` (fraction of the test set classified
right), ``test_loss`` (mean loss over the test set, torch problems). X axes: ``sfo`` (SFO per
worker), ``epochs`` (SFO of all workers over the training rows: passes over the data),
``rounds`` (communication rounds) and ``seconds`` (rank 0's seconds since the loop began).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crpsgd.errors import UsageError
from crpsgd.runlog import RunRecord


@dataclass(frozen=True)
class Metric:
    """A y quantity: its axis label, whether a log axis suits it, and what a run without it
    lacks (for the message)."""

    label: str
    log_y: bool
    missing: str


METRICS: dict[str, Metric] = {
    "suboptimality": Metric(r"$f(x) - f^*$", True, "no f* (run with --fstar)"),
    "objective": Metric(r"training loss $f(x)$", False, "no objective"),
    "grad_norm_sq": Metric(r"$\|\nabla f(x)\|^2$", True, "no gradient norm"),
    "test_accuracy": Metric("test accuracy", False, "no test accuracy (run with --test-data)"),
    "test_loss": Metric(
        "test loss", True, "no test loss (a torch problem with a test set logs it)"
    ),
}
X_AXES = {
    "sfo": "SFO per worker",
    "epochs": "epochs (SFO of all workers / training rows)",
    "rounds": "communication rounds",
    "seconds": "seconds (rank 0, since the loop began)",
}
XSCALES = ("log", "linear")
CONVEX_PROBLEMS = ("logreg",)


def has_fstar(run: RunRecord) -> bool:
    value = run.attrs.get("f_star")
    return isinstance(value, (int, float)) and not math.isnan(value)


def choose_metrics(runs: Sequence[RunRecord], requested: Sequence[str] = ("auto",)) -> list[str]:
    """The metrics to draw. ``auto``: ``suboptimality`` when every run knows ``f*``,
    ``objective`` and ``grad_norm_sq`` when some run is a non-convex problem (and
    ``test_accuracy`` when every run logged one), else ``objective``."""
    metrics: list[str] = []
    for m in requested:
        if m != "auto":
            metrics.append(m)
        elif any(r.attrs.get("problem", "logreg") not in CONVEX_PROBLEMS for r in runs):
            metrics += ["objective", "grad_norm_sq"]
            if all(_logged(r, "test_accuracy") for r in runs):
                metrics.append("test_accuracy")
        elif all(has_fstar(r) for r in runs):
            metrics.append("suboptimality")
        else:
            metrics.append("objective")
    return list(dict.fromkeys(metrics))


def _logged(run: RunRecord, metric: str) -> bool:
    values = np.asarray(run.eval.get(metric, []), dtype=float)
    return bool(values.size) and not np.isnan(values).all()


def check_metrics(runs: Sequence[RunRecord], metrics: Sequence[str]) -> None:
    """Every metric is known and logged by every run; else one message naming the files."""
    for m in metrics:
        if m not in METRICS:
            raise UsageError(f"--metric={m}: must be one of auto, {', '.join(METRICS)}")
        ok = has_fstar if m == "suboptimality" else (lambda r, m=m: _logged(r, m))
        missing = [str(r.path) for r in runs if not ok(r)]
        if missing:
            raise UsageError(f"--metric={m}: {METRICS[m].missing} in {', '.join(missing)}")


def choose_x(runs: Sequence[RunRecord], requested: Sequence[str] | None) -> list[str]:
    """The x axes, one panel each: as requested, else SFO per worker (epochs when every run
    is a torch problem, i.e. image data) and rounds."""
    if requested:
        return list(dict.fromkeys(requested))
    torch = all(r.attrs.get("problem") == "torch" for r in runs)
    return ["epochs" if torch else "sfo", "rounds"]


def x_values(run: RunRecord, axis: str) -> np.ndarray:
    """The x coordinate of each of the run's evaluations on ``axis``."""
    ev = run.eval
    if axis == "sfo":
        return np.asarray(ev["sfo_per_worker"], dtype=float)
    if axis == "rounds":
        return np.asarray(ev["round"], dtype=float)
    if axis == "seconds":
        return np.asarray(ev["wall_s"], dtype=float)
    if axis == "epochs":
        shape = run.attrs.get("data_shape")
        if shape is None or len(shape) == 0 or int(shape[0]) <= 0:
            raise UsageError(f"--x=epochs: {run.path} does not record its training rows")
        return np.asarray(ev["sfo_total"], dtype=float) / int(shape[0])
    raise UsageError(f"--x={axis}: must be one of {', '.join(X_AXES)}")
