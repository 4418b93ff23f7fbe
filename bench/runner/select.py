"""Which grid points an experiment keeps: the selection rules of a definition's ``[select]``.

* ``score``: how one run is scored, lower is better. ``final``: the final value of the
  definition's ``metric``; ``tail``: the median ``metric`` over the evaluations in the second
  half of the SFO budget (a stochastic iterate's last value alone is one noisy sample). A
  grid point's score is the median over the tuning seeds of its runs' scores; a run that did
  not complete scores ``inf``.
* ``rows``: the rows the tables give per method. ``score``: the best-scoring point, run on
  every seed; ``max_rounds``: the best-scoring point among those whose median round count is
  within the method's ``select_max_rounds`` (also run on every seed); ``settle``: the point
  whose tuning run settled below the target after the fewest rounds (ties: the better score);
  ``reference``: the best-scoring point with the method's ``reference`` parameters.
* ``resume``: a grid point whose log says ``completed`` is not run again (``--force`` does).
"""

from __future__ import annotations

import json
import math
import statistics
from typing import Any

from bench.runner.rows import median_finite


def point_key(point: dict[str, Any]) -> str:
    return json.dumps(point, sort_keys=True)


def run_score(row: dict[str, Any]) -> float:
    """A row's score: its ``score`` field where it has one, else its final metric."""
    return row["score"] if "score" in row else row["suboptimality"]


def point_scores(rows: list[dict[str, Any]], tune_seeds: list[int]):
    """``[(score, median rounds, point key)]`` of every grid point in ``rows``, best first
    (ties keep the order in which the points first appear); and the rows by point key."""
    by_point: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_point.setdefault(point_key(r["point"]), []).append(r)
    scored = []
    for key, runs in by_point.items():
        tuned = [r for r in runs if r["seed"] in tune_seeds] or runs
        rounds = statistics.median(
            r["rounds"] if r["rounds"] is not None else math.inf for r in tuned
        )
        scored.append((median_finite([run_score(r) for r in tuned]), rounds, key))
    scored.sort(key=lambda t: t[0])
    return scored, by_point


def within_limit(scored, limit: float | None):
    """The scored points whose median round count is ``<= limit`` (best first)."""
    return [] if limit is None else [t for t in scored if t[1] <= limit]


def points_for_all_seeds(rows, method: dict[str, Any], select, tune_seeds) -> list[dict]:
    """The grid points the ``score`` and ``max_rounds`` rows need on every seed."""
    scored, _ = point_scores(rows, tune_seeds)
    if not scored:
        return []
    keys = [scored[0][2]] if "score" in select["rows"] else []
    if "max_rounds" in select["rows"]:
        within = within_limit(scored, method.get("select_max_rounds"))
        keys += [within[0][2]] if within else []
    return [json.loads(k) for k in dict.fromkeys(keys)]


def final_picks(method: dict[str, Any], scored, select) -> list[tuple[str, str, Any]]:
    """Single-shape rows: ``[(label, point key, round limit used)]``. A ``max_rounds`` point
    that is the best point anyway is one row that names the limit."""
    label = method.get("label", method["name"])
    picks = [(label, scored[0][2], None)]
    limit = method.get("select_max_rounds") if "max_rounds" in select["rows"] else None
    within = within_limit(scored, limit)
    if within and within[0][2] != scored[0][2]:
        picks.append((f"{label} (rounds <= {limit})", within[0][2], limit))
    elif within:
        picks[0] = (label, scored[0][2], limit)
    return picks


def target_picks(method, rows, select, tune_seeds) -> list[tuple[str, list[dict[str, Any]]]]:
    """Problems-shape rows: ``[(selected by, the runs of that row)]``; the ``score`` row has
    every seed's run of its point, the others the tuning run alone."""
    tuned = [r for r in rows if r["seed"] in tune_seeds]
    if not tuned:
        return []
    picks = []
    scored, by_point = point_scores(tuned, tune_seeds)
    if "score" in select["rows"]:
        best = json.loads(scored[0][2])
        picks.append(("score", [r for r in rows if r["point"] == best]))
    if "max_rounds" in select["rows"]:
        limit = method.get("select_max_rounds")
        within = within_limit(scored, limit)
        if within:
            picks.append((f"score, rounds <= {limit}", by_point[within[0][2]]))
    if "settle" in select["rows"]:
        stays = [r for r in tuned if r["rounds_to_settle"] is not None]
        if stays:
            fast = min(stays, key=lambda r: (r["rounds_to_settle"], run_score(r)))
            picks.append(("fewest rounds to settle", [fast]))
    ref = method.get("reference")
    if "reference" in select["rows"] and ref:
        within = [r for r in tuned if all(r["point"].get(k) == v for k, v in ref.items())]
        if within:
            pick = min(within, key=run_score)
            picks.append((f"score, {method['reference_label']}", [pick]))
    return picks
