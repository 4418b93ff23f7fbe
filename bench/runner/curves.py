"""The curves a figure draws, kept in the results JSON (``"curves"``: one per drawn log) so
that the figures can be redrawn from the committed results without the logs (bench/out/ is
not committed), and a stand-in for a run log that :func:`crpsgd.analysis.plot.plot_runs` draws.

A curve is ``{"attrs": {...}, "eval": {column: [value, ...]}}``: the log's ``/eval`` columns
that a figure can use (x: rounds, SFO per worker, SFO of all workers; y: every metric the
log holds), values to :data:`DIGITS` significant digits (NaN as ``null``), and the root
attributes the figure reads (``f_star``, ``problem``, ``data_note``, ``data_shape``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

#: The ``/eval`` columns kept: the x axes (``wall_s`` is left out: it differs run to run).
X_COLUMNS = ("round", "sfo_per_worker", "sfo_total")
Y_COLUMNS = ("suboptimality", "objective", "grad_norm_sq", "test_accuracy", "test_loss")
ATTRS = ("f_star", "problem", "data_note", "data_shape")
#: Significant digits of the stored values (a figure needs no more).
DIGITS = 6


def _value(v: Any) -> Any:
    v = float(v)
    if math.isnan(v):
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == int(v) and abs(v) < 2**53:
        return int(v)
    return float(f"{v:.{DIGITS}g}")


def _attr(v: Any) -> Any:
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def curve_of(rec) -> dict[str, Any]:
    """The curve of one run log (a :class:`crpsgd.runlog.RunRecord`)."""
    import numpy as np

    columns: dict[str, list] = {}
    for name in (*X_COLUMNS, *Y_COLUMNS):
        if name not in rec.eval:
            continue
        values = np.asarray(rec.eval[name], dtype=float)
        if name in Y_COLUMNS and (values.size == 0 or np.isnan(values).all()):
            continue
        columns[name] = [_value(v) for v in values]
    attrs = {k: _attr(rec.attrs[k]) for k in ATTRS if k in rec.attrs}
    return {"attrs": attrs, "eval": columns}


def curves_of(logs: list[str], root: Path) -> dict[str, dict[str, Any]]:
    """``{log: curve}`` of every log (a path relative to ``root``) that exists."""
    from crpsgd.runlog import read_run

    return {log: curve_of(read_run(root / log)) for log in logs if (root / log).exists()}


def record(curve: dict[str, Any], name: str):
    """A :class:`crpsgd.runlog.RunRecord` holding ``curve``, named ``name`` in messages."""
    import numpy as np

    from crpsgd.runlog import RunRecord

    evals = {
        k: np.asarray([math.nan if v is None else float(v) for v in vs], dtype=float)
        for k, vs in curve["eval"].items()
    }
    attrs = {k: (math.nan if v is None else v) for k, v in curve["attrs"].items()}
    return RunRecord(
        path=Path(name), attrs=attrs, config={}, rounds={}, eval=evals, x=None, summary={}
    )


def with_curves(text: str, curves: dict[str, dict[str, Any]]) -> str:
    """A results JSON's ``text`` (one object) with ``"curves"`` added last, one line per
    curve (the tables' part stays as it was; no key at all when there are no curves)."""
    if not curves:
        return text
    lines = ",\n".join(
        f"  {json.dumps(log)}: {json.dumps(curve, allow_nan=False)}"
        for log, curve in curves.items()
    )
    return text.rstrip().removesuffix("}").rstrip() + ',\n "curves": {\n' + lines + "\n }\n}\n"


def saved_curves(results_json: Path) -> dict[str, dict[str, Any]]:
    """The curves a results JSON keeps (none when it is missing or older than them)."""
    if not results_json.exists():
        return {}
    try:
        return dict(json.loads(results_json.read_text()).get("curves", {}))
    except (ValueError, AttributeError):
        return {}
