"""Run one experiment definition (a TOML file under bench/) on all MPI ranks, then analyse it.

    mpiexec -n 10 python bench/experiment.py bench/logreg_a9a.toml          # run + analyse
    python bench/experiment.py bench/logreg_a9a.toml --analyse-only         # tables, figures

SPMD, like ``crpsgd run``: every rank runs this script, and each grid point is one call of
:func:`crpsgd.run.run_from_cli` -- the same code path as the command line, writing the same
HDF5 log -- so data loading, Numba compilation and MPI start-up are paid once per job rather
than once per run. The definition (see ``bench/logreg_a9a.toml`` for a commented one) has:

* ``[run]``: ``crpsgd run`` parameters common to every run (``data``, ``lam``, ``T``, ...);
* ``[grid]``: ``gamma`` as multiples of ``1/L`` (the same list for every method) and
  ``seeds``;
* ``[[method]]``: ``name``, ``algo`` and its parameters; a list is a grid axis
  (``b1 = [4, 16]``), a scalar is fixed. Methods whose ``algo`` this build of crpsgd does not
  know are skipped with a note (``optional = true``);
* ``[quick]``: overrides of ``[run]`` and ``[grid]`` for ``--quick`` (the SLURM test's short
  version).

Selection: for every method, each grid point's score is the **median over seeds** of the
final ``f - f*``; the best point is the one with the smallest score. The analysis writes
``bench/results/<name>.json`` (every run, the grid, the chosen points) and ``<name>.md`` (the
table), and draws ``<name>.png`` (best point of each method, seed 0) plus a PDF under the
output directory. Logs go to ``bench/out/<name>/`` (not committed).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import statistics
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
#: Method keys that describe the selection, not parameters of ``crpsgd run``.
NOT_RUN_PARAMS = ("name", "optional", "label", "select_max_rounds")


def load_definition(path: Path, quick: bool) -> dict[str, Any]:
    spec = tomllib.loads(path.read_text())
    spec.setdefault("run", {})
    spec.setdefault("grid", {})
    if quick:
        spec["run"].update(spec.get("quick", {}).get("run", {}))
        spec["grid"].update(spec.get("quick", {}).get("grid", {}))
        spec["name"] = spec["name"] + "-quick"
        for method in spec.get("method", []):  # the first value of every grid axis
            for key, value in method.items():
                if isinstance(value, list) and key not in NOT_RUN_PARAMS:
                    method[key] = value[:1]
    return spec


def grid_points(method: dict[str, Any], gammas: list[float]) -> list[dict[str, Any]]:
    """Every combination of the method's list-valued parameters and the step-size factors."""
    fixed = {k: v for k, v in method.items() if k not in NOT_RUN_PARAMS}
    axes = {k: v for k, v in fixed.items() if isinstance(v, list)}
    points = []
    for values in itertools.product(*axes.values(), gammas):
        point = {**fixed, **dict(zip(axes, values[:-1], strict=True))}
        point["gamma_factor"] = values[-1]
        points.append(point)
    return points


def point_id(point: dict[str, Any]) -> str:
    parts = [f"{k}{v}" for k, v in sorted(point.items()) if k not in ("algo",)]
    return "-".join(parts).replace(" ", "")


def prepare_data(spec: dict[str, Any], out_dir: Path) -> None:
    """LIBSVM text -> HDF5 once (each rank then reads only its rows); rank 0 only."""
    data = spec["run"].get("data", "")
    if data.startswith("synthetic") or data.endswith((".h5", ".hdf5")):
        return
    from crpsgd.data.convert import convert_libsvm_to_h5

    for key in ("data", "test_data"):
        src = spec["run"].get(key)
        if not src:
            continue
        target = out_dir / (Path(src).name + ".h5")
        if not target.exists():
            convert_libsvm_to_h5(src, str(target), n_features=spec["run"].get("n_features"))
        spec["run"][key] = os.path.relpath(target, ROOT)


def smoothness(run_cfg: dict[str, Any], comm) -> float:
    """``L`` of the objective, exactly as ``crpsgd run`` computes it for ``--gamma auto``."""
    from crpsgd.data.loader import load_shard
    from crpsgd.evaluation import global_smoothness
    from crpsgd.problems.logreg import LogisticRegression

    shard, n = load_shard(run_cfg["data"], comm.rank, comm.size, run_cfg.get("n_features"))
    return global_smoothness(LogisticRegression(shard, n, run_cfg.get("lam", 1e-4)), comm)[0]


def run_all(spec: dict[str, Any], out_dir: Path, only: str | None) -> None:
    from crpsgd.comm import Communicator
    from crpsgd.config import ALGORITHMS
    from crpsgd.run import run_from_cli

    comm = Communicator()
    if comm.is_root:
        out_dir.mkdir(parents=True, exist_ok=True)
        prepare_data(spec, out_dir)
    spec["run"] = comm.bcast(spec["run"])
    L = smoothness(spec["run"], comm)
    gammas = spec["grid"].get("gamma", [1.0])
    seeds = spec["grid"].get("seeds", [0])
    tune_seeds = spec["grid"].get("tune_seeds", seeds)
    metric = spec.get("metric", "suboptimality")
    index = {"name": spec["name"], "L": L, "n_workers": comm.size, "runs": [], "skipped": []}

    def one(method: dict[str, Any], point: dict[str, Any], seed: int) -> float:
        log = out_dir / method["name"] / f"{point_id(point)}-seed{seed}.h5"
        cli = {**spec["run"], **{k: v for k, v in point.items() if k != "gamma_factor"}}
        cli.update(seed=seed, gamma=point["gamma_factor"] / L, out=str(log))
        cli = {k: str(v) for k, v in cli.items()}
        cli.update(overwrite=True, quiet=True)
        status, sub, rounds = "completed", math.inf, None
        try:
            result = run_from_cli(cli, comm)
            sub, rounds = getattr(result.final, metric), result.rounds
        except Exception as exc:  # a diverging grid point is a result, not a crash
            status = f"failed: {type(exc).__name__}: {exc}"
            if comm.is_root:
                print(f"{method['name']} {point_id(point)} seed {seed}: {status}", flush=True)
        index["runs"].append(
            {
                "method": method["name"],
                "point": point,
                "seed": seed,
                "log": os.path.relpath(log, ROOT),
                "status": status,
            }
        )
        return sub if math.isfinite(sub) else math.inf, rounds

    for method in spec["method"]:
        if only and method["name"] != only:
            continue
        if method["algo"] not in ALGORITHMS:
            index["skipped"].append(
                {"method": method["name"], "reason": f"--algo {method['algo']} not in this build"}
            )
            continue
        # phase 1: every grid point on the tuning seeds
        scores = []
        for point in grid_points(method, gammas):
            results = [one(method, point, seed) for seed in tune_seeds]
            score = statistics.median(r[0] for r in results)
            rounds = statistics.median(r[1] if r[1] is not None else math.inf for r in results)
            scores.append((score, rounds, point))
        # phase 2: the best point (and the best within the round limit) on the other seeds
        chosen = [min(scores, key=lambda t: t[0])[2]]
        limit = method.get("select_max_rounds")
        if limit is not None:
            within = [t for t in scores if t[1] <= limit]
            if within:
                chosen.append(min(within, key=lambda t: t[0])[2])
        done = []
        for point in chosen:
            if point in done:
                continue
            done.append(point)
            for seed in seeds:
                if seed not in tune_seeds:
                    one(method, point, seed)
    if comm.is_root:
        (out_dir / "index.json").write_text(json.dumps(index, indent=1))


def _median(values: list[float]) -> float:
    finite = [v if math.isfinite(v) else math.inf for v in values]
    return statistics.median(finite) if finite else math.nan


def analyse(spec: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Read the logs listed in the index; choose each method's best grid point; write the
    JSON, the Markdown table and the figures."""
    from crpsgd.runlog import read_run

    index = json.loads((out_dir / "index.json").read_text())
    rows = []
    for entry in index["runs"]:
        path = ROOT / entry["log"]
        rec = read_run(path) if path.exists() else None
        s = rec.summary if rec is not None else {}
        rows.append(
            {
                **entry,
                "rounds": s.get("rounds"),
                "sfo_per_worker": s.get("sfo_per_worker"),
                "suboptimality": s.get(spec.get("metric", "suboptimality"), math.nan)
                if rec is not None and rec.status == "completed"
                else math.inf,
                "objective": s.get("objective"),
                "test_accuracy": s.get("test_accuracy"),
                "wall_s": s.get("wall_s"),
                "comm_s": s.get("comm_s"),
            }
        )
    tune_seeds = spec["grid"].get("tune_seeds", spec["grid"].get("seeds", [0]))
    methods = []
    for method in spec["method"]:
        mine = [r for r in rows if r["method"] == method["name"]]
        if not mine:
            continue
        by_point: dict[str, list[dict[str, Any]]] = {}
        for r in mine:
            by_point.setdefault(json.dumps(r["point"], sort_keys=True), []).append(r)
        scored = []  # (score on the tuning seeds, median rounds, point key)
        for key, runs in by_point.items():
            tuned = [r for r in runs if r["seed"] in tune_seeds] or runs
            rounds = statistics.median(
                r["rounds"] if r["rounds"] is not None else math.inf for r in tuned
            )
            scored.append((_median([r["suboptimality"] for r in tuned]), rounds, key))
        scored.sort(key=lambda t: t[0])
        picks = [(method.get("label", method["name"]), scored[0][2], None)]
        limit = method.get("select_max_rounds")
        if limit is not None:
            within = [t for t in scored if t[1] <= limit]
            if within and within[0][2] != scored[0][2]:
                picks.append((f"{picks[0][0]} (rounds <= {limit})", within[0][2], limit))
            elif within:
                picks[0] = (picks[0][0], picks[0][1], limit)
        for name, key, limit_used in picks:
            runs = by_point[key]
            subs = [r["suboptimality"] for r in runs]
            methods.append(
                {
                    "method": method["name"],
                    "label": name,
                    "point": json.loads(key),
                    "select_max_rounds": limit_used,
                    "median_suboptimality": _median(subs),
                    "min_suboptimality": min(subs),
                    "max_suboptimality": max(subs),
                    "rounds": statistics.median(
                        r["rounds"] if r["rounds"] is not None else math.inf for r in runs
                    ),
                    "sfo_per_worker": statistics.median(
                        r["sfo_per_worker"] if r["sfo_per_worker"] is not None else 0 for r in runs
                    ),
                    "median_test_accuracy": statistics.median(
                        r["test_accuracy"] if r["test_accuracy"] is not None else math.nan
                        for r in runs
                    ),
                    "median_wall_s": statistics.median(r["wall_s"] or math.nan for r in runs),
                    "seeds": [r["seed"] for r in runs],
                    "logs": [r["log"] for r in runs],
                    "grid_points": len(by_point),
                    "all_points": [
                        {"point": json.loads(k), "tune_score": sc, "rounds": rd}
                        for sc, rd, k in scored
                    ],
                }
            )
    result = {
        "name": spec["name"],
        "title": spec.get("title", spec["name"]),
        "command": spec.get("command", ""),
        "run": spec["run"],
        "grid": spec["grid"],
        "L": index["L"],
        "metric": spec.get("metric", "suboptimality"),
        "n_workers": index["n_workers"],
        "methods": methods,
        "skipped": index["skipped"],
        "method_defs": spec.get("method_defs", []),
        "runs": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{spec['name']}.json").write_text(
        json.dumps(result, indent=1, default=str).replace("Infinity", '"inf"') + "\n"
    )
    table = markdown_table(result)
    (RESULTS / f"{spec['name']}.md").write_text(table + "\n")
    print(table)
    draw(result, out_dir)
    return result


def markdown_table(result: dict[str, Any]) -> str:
    crs = [m for m in result["methods"] if m["method"] == "cr-psgd"]
    ref = next((m for m in crs if m.get("select_max_rounds")), crs[0] if crs else None)
    metric = {"suboptimality": "f - f*", "grad_norm_sq": "‖grad f‖²"}.get(
        result.get("metric", "suboptimality"), result.get("metric")
    )
    lines = [
        f"{result['title']} -- N = {result['n_workers']}, T = {result['run'].get('T')} SFO per "
        f"worker, medians over seeds {result['grid'].get('seeds')}, L = {result['L']:.4g}",
        "",
        f"Command: `{result['command']}`" if result["command"] else "",
        "",
        f"| method | chosen parameters | rounds | SFO/worker | {metric} (median) | "
        f"{metric} (min..max) | rounds / CR-PSGD's | test acc |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in result["methods"]:
        params = ", ".join(
            f"{k}={v}"
            for k, v in m["point"].items()
            if k not in ("algo", *NOT_RUN_PARAMS) and v != "auto"
        )
        params = re.sub(r"gamma_factor=([0-9.]+)", r"gamma=\1/L", params)
        ratio = f"{m['rounds'] / ref['rounds']:.3g}x" if ref and ref["rounds"] else "-"
        acc = m["median_test_accuracy"]
        lines.append(
            f"| {m['label']} | {params} | {m['rounds']:.0f} | {m['sfo_per_worker']:.0f} | "
            f"{m['median_suboptimality']:.3e} | {m['min_suboptimality']:.2e}..."
            f"{m['max_suboptimality']:.2e} | {ratio} | "
            + ("-" if acc is None or acc != acc else f"{acc:.4f}")
            + " |"
        )
    grid = result["grid"]
    axes = []
    for d in result.get("method_defs", []):
        lists = [f"{k} in {v}" for k, v in d.items() if isinstance(v, list)]
        axes.append(f"{d['name']}: {', '.join(lists) if lists else 'fixed'}")
    lines += [
        "",
        f"Grid, the same step sizes for every method: gamma in {grid.get('gamma')} x 1/L; "
        + "; ".join(axes)
        + f". Every grid point runs on seeds {grid.get('tune_seeds', grid.get('seeds'))} and is "
        "scored by its median final f - f*; the best point of each method (and, where a row "
        "says so, the best within a round limit) then runs on all seeds "
        f"{grid.get('seeds')}, and the row gives medians over them.",
    ]
    sweep = constant_batch_sweep(result)
    if sweep:
        lines += [
            "",
            "PSGD with a constant batch B, each B at its best step size of the grid "
            f"(tuning seed, {metric}); compare the CR-PSGD rows above:",
            "",
            "| B | gamma | rounds | " + metric + " |",
            "|---:|---:|---:|---:|",
        ]
        lines += [f"| {b} | {g:g}/L | {r} | {v:.3e} |" for b, g, r, v in sweep]
    for s in result["skipped"]:
        lines.append(f"Not run: {s['method']} ({s['reason']}).")
    return "\n".join(lines)


def constant_batch_sweep(result: dict[str, Any]) -> list[tuple[int, float, int, float]]:
    """For every constant batch B run by any PSGD method: the best step size on the tuning
    seeds, its rounds and its final metric."""
    tune = result["grid"].get("tune_seeds", result["grid"].get("seeds", [0]))
    best: dict[int, tuple[float, float, int]] = {}
    for r in result["runs"]:
        if r["point"].get("algo") != "psgd" or r["seed"] not in tune or r["rounds"] is None:
            continue
        b, value = int(r["point"]["batch"]), r["suboptimality"]
        if b not in best or value < best[b][0]:
            best[b] = (value, r["point"]["gamma_factor"], r["rounds"])
    return [(b, g, rd, v) for b, (v, g, rd) in sorted(best.items())]


def draw(result: dict[str, Any], out_dir: Path) -> None:
    try:
        from crpsgd.plot import plot_runs
        from crpsgd.runlog import read_run
    except ImportError:
        return
    runs, labels = [], []
    for m in result["methods"]:
        log = ROOT / m["logs"][0]
        if log.exists():
            rec = read_run(log)
            runs.append(rec)
            labels.append(f"{m['label']}: " + _short(m["point"], result["L"]))
    if not runs:
        return
    try:
        plot_runs(
            runs,
            RESULTS / result["name"],
            title=result["title"],
            formats=("png",),
            labels=labels,
        )
        plot_runs(
            runs, out_dir / result["name"], title=result["title"], formats=("pdf",), labels=labels
        )
    except Exception as exc:  # matplotlib missing: tables are still written
        print(f"no figure: {exc}", file=sys.stderr)


def _short(point: dict[str, Any], L: float) -> str:
    keys = {"b1": "B1", "rho": "rho", "batch": "B", "period": "H"}
    parts = [f"{keys[k]}={v}" for k, v in point.items() if k in keys and v != "auto"]
    parts.append(f"gamma={point['gamma_factor']:g}/L")
    return ",".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("definition", type=Path)
    parser.add_argument("--out-dir", type=Path, help="logs [default: bench/out/<name>]")
    parser.add_argument("--quick", action="store_true", help="apply the [quick] overrides")
    parser.add_argument("--only", help="run only the method of this name")
    parser.add_argument("--analyse-only", action="store_true", help="tables and figures only")
    parser.add_argument(
        "--data-dir", help="directory of the data files (replaces the directory in [run])"
    )
    parser.add_argument("--results-dir", type=Path, help="tables/figures [default: bench/results]")
    args = parser.parse_args(argv)
    spec = load_definition(args.definition, args.quick)
    if args.data_dir:
        for key in ("data", "test_data"):
            value = spec["run"].get(key)
            if value and not value.startswith("synthetic"):
                spec["run"][key] = str(Path(args.data_dir) / Path(value).name)
    if args.results_dir:
        global RESULTS
        RESULTS = args.results_dir
    spec["method_defs"] = spec["method"]
    out_dir = args.out_dir or ROOT / "bench" / "out" / spec["name"]
    if not args.analyse_only:
        run_all(spec, out_dir, args.only)
        from mpi4py import MPI

        if MPI.COMM_WORLD.Get_rank() != 0:
            return 0
    spec_for_result = {**spec}
    result = analyse(spec_for_result, out_dir)
    return 0 if result["methods"] else 1


if __name__ == "__main__":
    sys.exit(main())
