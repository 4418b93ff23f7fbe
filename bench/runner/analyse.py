"""``--analyse-only`` and the end of a run: rows -> selection -> tables, JSON and figures.

The rows come from the logs that ``<out-dir>/index.json`` lists. Where there are none (a
fresh clone: bench/out/ is not committed), a single-problem definition's committed results
JSON, which holds every run's numbers, stands in for them: the tables and the JSON are redrawn
from it and the figures (which need the curves) are kept. Otherwise one line says which
command produces the logs, and the exit status is 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.runner import definition as d
from bench.runner import figures, report_final, report_target
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
    if d.shape(spec) == "single":
        report = report_final.build(spec, index, rows_of[""])
        text, table = report_final.to_json(report), report_final.markdown(report)
    else:
        report = report_target.build(spec, index, rows_of)
        text, table = report_target.to_json(report), report_target.markdown(report, spec)
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{spec['name']}.json").write_text(text)
    (results / f"{spec['name']}.md").write_text(table + "\n")
    print(table)
    if not from_logs:
        print(
            f"{spec['name']}: tables redrawn from the committed {spec['name']}.json; the "
            f"figures need the logs: run `{how_to_run(spec)}` to redraw them",
            file=sys.stderr,
        )
    elif d.shape(spec) == "single":
        figures.draw_final(report, results, out_dir)
    else:
        figures.draw_target(report, results)
    return report


def has_rows(report: dict[str, Any]) -> bool:
    if "methods" in report:
        return bool(report["methods"])
    return any(p["rows"] for p in report["problems"])
