"""Which of a single-problem experiment's methods its figure draws, and their labels.

An experiment that sets the adaptive schedule against a grid of fixed ``rho`` (the
``bench/adaptive_*.toml`` definitions) would draw a dozen overlapping curves; its figure
draws instead, each labelled with what it is:

* the adaptive schedule at its defaults (its default test and ``eta``: the row whose point
  names them, or one that names neither),
* the best candidate (a test and an ``eta``) of the sweep, where that is not the default,
* the best, the median and the worst fixed ``rho`` of the grid, ranked by the score the
  tables rank by (the final metric, or its 2nd-half median for ``score = "tail"``); the
  median is the lower one of an even count, and a grid of one ``rho`` draws it once.

Every other experiment draws all of its methods. The table (``<name>.md``) keeps every row.
"""

from __future__ import annotations

from typing import Any


def score(row: dict[str, Any]) -> float:
    """What the tables rank a method row by (lower is better)."""
    return row.get("median_score", row["median_suboptimality"])


def _gamma(row: dict[str, Any], per_l: str) -> str:
    return f"gamma={row['point']['gamma_factor']:g}{per_l}"


def is_adaptive(row: dict[str, Any]) -> bool:
    return row["point"].get("schedule") == "adaptive"


def is_fixed_rho(row: dict[str, Any]) -> bool:
    point = row["point"]
    return point.get("algo") == "cr-psgd" and "rho" in point and not is_adaptive(row)


def _test_eta(row: dict[str, Any]) -> tuple[str, float]:
    """The test and ``eta`` an adaptive row ran: its own, else the defaults."""
    from crpsgd.schedules.adaptive import DEFAULT_ETA
    from crpsgd.schedules.adaptive_inner import PARAMS

    (default_test,) = [p.default for p in PARAMS if p.name == "adaptive_test"]
    point = row["point"]
    return str(point.get("adaptive_test", default_test)), float(point.get("eta", DEFAULT_ETA))


def _what(row: dict[str, Any]) -> str:
    test, eta = _test_eta(row)
    return f"{test} test, eta={eta:g}"


def adaptive_picks(result: dict[str, Any]) -> list[tuple[dict[str, Any], str]] | None:
    """``[(method row, label)]`` of an adaptive-against-fixed-rho experiment's figure; None
    for an experiment without both adaptive and fixed-rho rows."""
    rows = [m for m in result["methods"] if not m.get("select_max_rounds")]
    adaptive = [m for m in rows if is_adaptive(m)]
    fixed = sorted((m for m in rows if is_fixed_rho(m)), key=score)
    if not adaptive or not fixed:
        return None
    per_l = "" if result.get("unit") == "absolute" else "/L"
    picks = []
    default = [m for m in adaptive if _test_eta(m) == _test_eta({"point": {}})]
    best = min(adaptive, key=score)
    for m in default[:1]:
        picks.append((m, f"adaptive ({_what(m)}: the default), {_gamma(m, per_l)}"))
    if not default or best is not default[0]:
        of = f"best of {len(adaptive)} candidates" if len(adaptive) > 1 else "the only one run"
        what = _what(best)
        picks.append((best, f"adaptive ({what}: {of}), {_gamma(best, per_l)}"))
    n = len(fixed)
    ranks = [("best", 0)] + ([("median", (n - 1) // 2)] if n > 2 else [])
    ranks += [("worst", n - 1)] if n > 1 else []
    for name, i in ranks:
        m = fixed[i]
        rho = f"rho = {m['point']['rho']:g}"
        what = f"{name} fixed {rho} (of {n})" if n > 1 else f"fixed {rho} (the only rho run)"
        picks.append((m, f"{what}, {_gamma(m, per_l)}"))
    return picks
