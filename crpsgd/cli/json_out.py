"""JSON that every reader accepts: ``NaN`` and ``Infinity`` are not JSON, so the tools that
print JSON (``crpsgd report``, ``crpsgd project``) write such a value as ``null`` and say why
in the object that held it (``why_null``: ``{key: reason}``)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

#: Reasons for keys whose value is commonly undefined, shared by every tool.
REASONS: dict[str, str] = {
    "suboptimality": "f* unknown (run with --fstar)",
    "test_accuracy": "no test set (run with --test-data)",
    "test_loss": "not logged (torch problems with a test set log it)",
    "crossover_nodes": "communication does not exceed compute up to the largest node count",
}


def _reason(key: str, value: float, reasons: Mapping[str, str]) -> str:
    if key in reasons:
        return reasons[key]
    return "not a number (undefined)" if math.isnan(value) else "infinite (overflows a float64)"


def finite(obj: Any, reasons: Mapping[str, str] | None = None) -> Any:
    """``obj`` with every non-finite float replaced by None; each dict that held one gets
    ``why_null`` naming the key and the reason (from ``reasons``, then :data:`REASONS`)."""
    table = {**REASONS, **(reasons or {})}
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        why: dict[str, str] = {}
        for key, value in obj.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
                why[str(key)] = _reason(str(key), value, table)
            else:
                out[key] = finite(value, reasons)
        if why:
            out["why_null"] = why
        return out
    if isinstance(obj, (list, tuple)):
        return [
            None if isinstance(v, float) and not math.isfinite(v) else finite(v, reasons)
            for v in obj
        ]
    return obj


def dumps(obj: Any, reasons: Mapping[str, str] | None = None, indent: int = 1) -> str:
    """Valid JSON of ``obj`` (see :func:`finite`); never writes ``NaN`` or ``Infinity``."""
    return json.dumps(finite(obj, reasons), indent=indent, allow_nan=False)
