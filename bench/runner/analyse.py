"""``--analyse-only`` and the end of a run: rows -> selection -> tables, JSON and figures.

The rows come from the logs that ``<out-dir>/index.json`` lists. Where there are none (a
fresh clone: bench/out/ is not committed), a single-problem definition's committed results
JSON, which holds every run's numbers, stands in for them: the tables and the JSON are redrawn
from it, and so are the figures where it keeps their curves (``"curves"``, written by every
run since they were added, :mod:`runner.curves`); a JSON without them keeps its figures and
says which command redraws them. Otherwise one line says which command produces the logs,
and the exit status is 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.runner import curves, figures, report_final, report_target
from bench.runner import definition as d
from bench.runner.rows import ROOT, index_from_results, read_index, rows_from_logs


class NothingToAnalyse(RuntimeError):
    """Neither logs nor a results file the tables can be redrawn from."""


def _logs_present(index: dict[str, Any]) -> bool:
    runs = [e for p in index["problems"].values() for e in p["runs"]]
    return any((ROOT / e["log"]).exists() for e in runs)


def _rows(spec, out_dir: Path, results: Path) -> tuple[dict[str, Any], dict[str, list], bool]:
    """The index, every run's row per problem name, and whether they came from the logs."""
    path = out_dir / "index.json"
    index = read_index(path) if path.exists() else None
    if index is not None and _logs_present(index):
        rows_of = {}
        for pdef in d.problems(spec):
            key = "" if pdef["name"] is None else pdef["name"]
            if key in index["problems"]:
                rows_of[key] = rows_from_logs(spec, pdef, index["problems"][key])
        return index, rows_of, True
    saved = index_from_results(spec, results / f"{spec['name']}.json")
    if saved is None:
        where = path if index is None else f"the logs that {path} lists"
        raise NothingToAnalyse(
            f"{spec['name']}: no {where}; run `{how_to_run(spec)}` first "
            f"(bench/out/ is not committed; {results / spec['name']}.* stay as they are)"
        )
    index, rows = saved
    return index, {"": rows}, False


def how_to_run(spec: dict[str, Any]) -> str:
    return spec.get("command") or f"mpiexec -n N python -m bench experiment {spec['name']}.toml"


def analyse(spec: dict[str, Any], out_dir: Path, results: Path) -> dict[str, Any]:
    """Write ``<results>/<name>.json``, ``<name>.md`` and the figures; print the table."""
    index, rows_of, from_logs = _rows(spec, out_dir, results)
    saved = results / f"{spec['name']}.json"
    if d.shape(spec) == "single":
        report = report_final.build(spec, index, rows_of[""])
        text, table = report_final.to_json(report), report_final.markdown(report)
    else:
        report = report_target.build(spec, index, rows_of)
        text, table = report_target.to_json(report), report_target.markdown(report, spec)
    logs = figures.figure_logs(report)
    have = curves.curves_of(logs, ROOT) if from_logs else curves.saved_curves(saved)
    report["curves"] = {log: have[log] for log in logs if log in have}
    results.mkdir(parents=True, exist_ok=True)
    saved.write_text(curves.with_curves(text, report["curves"]))
    (results / f"{spec['name']}.md").write_text(table + "\n")
    print(table)
    if d.shape(spec) == "single":
        drawn = figures.draw_final(report, results, out_dir)
    else:
        drawn = figures.draw_target(report, results)
    if not drawn and not from_logs:
        print(
            f"{spec['name']}: tables redrawn from the committed {spec['name']}.json; the "
            f"figures need the logs (the JSON keeps no curves): run `{how_to_run(spec)}` "
            "to redraw them",
            file=sys.stderr,
        )
    elif not from_logs:
        print(
            f"{spec['name']}: tables and figures redrawn from the committed {spec['name']}.json",
            file=sys.stderr,
        )
    return report


def has_rows(report: dict[str, Any]) -> bool:
    if "methods" in report:
        return bool(report["methods"])
    return any(p["rows"] for p in report["problems"])
