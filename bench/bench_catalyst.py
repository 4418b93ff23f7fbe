"""CR-PSGD-Catalyst against PSGD(B) and PR-SGD on non-convex problems (issue 3), N ranks.

    mpiexec -n 8 python bench/bench_catalyst.py bench/catalyst.toml    # run (resumable) + analyse
    python bench/bench_catalyst.py bench/catalyst.toml --analyse-only  # tables and figures only
    mpiexec -n 8 python bench/bench_catalyst.py bench/catalyst.toml --quick --data-dir DIR \
        --out-dir OUT/logs --results-dir OUT                            # jobs/catalyst_n8.sbatch

SPMD like ``crpsgd run``: every grid point is one call of :func:`crpsgd.run.run_from_cli` (the
command line's code path and HDF5 log) inside one MPI job, so start-up is paid once. A
LIBSVM file is converted to HDF5 once (each rank then reads only its rows). A grid point
whose log already says ``completed`` is not run again (``--force`` reruns everything).

The definition (``bench/catalyst.toml``, commented) gives, per ``[[problem]]``, the
``crpsgd run`` parameters, the ``||grad f||^2`` target and the unit ``L`` of the step-size
grids: ``bound`` is the smoothness bound of ``--gamma auto``; ``estimate`` (for the network,
which has no bound) is the largest Hessian eigenvalue at the initial point by power iteration
on finite-difference Hessian-vector products -- an estimate that only places the grid. Per
``[[method]]``, list-valued parameters are grid axes; ``theta`` is in units of ``L``;
``gamma`` is in units of ``1/L``, for Catalyst of ``1/(L + theta)`` (its ``auto`` rule).

Selection: each grid point runs on ``tune_seed``; its score is the median ``||grad f||^2`` over
the evaluation points in the second half of the SFO budget (the last point alone is one
noisy sample of a stochastic iterate). The best point of each method then also runs on the
other ``seeds``. Reported per method and problem (medians over seeds): the score, final
``f``, rounds, SFO, and two rounds-to-target measures (with the SFO there): *first*, the
first logged evaluation with ``||grad f||^2 <= target`` (what the issue asks for; a stochastic
iterate can dip below the target once and climb back), and *settled*, the first logged
evaluation at which the median of it and the four before it is ``<= target``. Evaluations are
``eval_factor`` apart in SFO, so both are upper bounds at that resolution. A second row per
method gives its grid point that settled after the fewest rounds (tune seed), and a third
the best-scoring point within the method's ``reference`` restriction (the setting of the
theory's comparison: the paper's ``auto`` values, small-batch PSGD, PR-SGD with ``b = 1`` and
its period rule).

``--quick`` applies the definition's ``[quick]`` table: its ``run`` overrides every problem's
parameters (a short budget), only its ``methods`` run, only on ``tune_seed``, and each grid
axis is cut to one value, the method's ``reference`` value where it names one, else the
first; results are named ``<name>-quick``. ``--data-dir`` replaces the directory of every
data file of the definition (synthetic data are kept).

Writes ``bench/results/<name>.json`` (every run and the choices), ``<name>.md`` (the tables)
and ``<name>-<problem>.png`` (the chosen and restricted points, seed 0: ``||grad f||^2`` and
``f`` against SFO and rounds); logs go to ``bench/out/<name>/`` (not committed).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import math
import os
import statistics
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GRID_KEYS_NOT_FLAGS = ("name", "label", "algo", "reference", "reference_label")


# --------------------------------------------------------------------------- definition


def grid_points(method: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the method's list-valued parameters (scalars are fixed)."""
    params = {k: v for k, v in method.items() if k not in GRID_KEYS_NOT_FLAGS}
    axes = {k: v for k, v in params.items() if isinstance(v, list)}
    return [
        {**params, **dict(zip(axes, values, strict=True))}
        for values in itertools.product(*axes.values())
    ]


def quick_version(spec: dict[str, Any]) -> dict[str, Any]:
    """The definition's short version (``--quick``, see the module docstring)."""
    quick = spec.get("quick", {})
    short = copy.deepcopy(spec)
    short["name"] = f"{spec['name']}-quick"
    short["seeds"] = [spec["tune_seed"]]
    for problem in short["problem"]:
        problem["run"].update(quick.get("run", {}))
    keep = quick.get("methods")
    short["method"] = [m for m in short["method"] if keep is None or m["name"] in keep]
    for method in short["method"]:
        reference = method.get("reference", {})
        for key, value in method.items():
            if isinstance(value, list) and key not in GRID_KEYS_NOT_FLAGS:
                method[key] = [reference.get(key, value[0])]
    return short


def with_data_dir(spec: dict[str, Any], data_dir: str) -> dict[str, Any]:
    """Every problem's data file taken from ``data_dir`` instead (synthetic data kept)."""
    moved = copy.deepcopy(spec)
    for problem in moved["problem"]:
        data = problem["run"].get("data", "")
        if data and not data.startswith("synthetic"):
            problem["run"]["data"] = str(Path(data_dir).resolve() / Path(data).name)
    return moved


def point_id(point: dict[str, Any]) -> str:
    return "-".join(f"{k}={v}" for k, v in sorted(point.items())).replace(" ", "")


def cli_values(run: dict[str, Any], method: dict[str, Any], point: dict[str, Any], L: float):
    """``crpsgd run`` flags of one grid point: ``theta`` x L, ``gamma`` x 1/L (x 1/(L+theta))."""
    values = {**run, **point, "algo": method["algo"]}
    if "theta" in point:
        values["theta"] = point["theta"] * L
    if "gamma" in point:
        denominator = L + values["theta"] if method["algo"] == "cr-psgd-catalyst" else L
        values["gamma"] = point["gamma"] / denominator
    return values


# --------------------------------------------------------------------------- set-up (MPI)


def prepare_data(run: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """LIBSVM text -> HDF5 once, beside the logs (rank 0); returns the updated parameters."""
    data = run.get("data", "")
    if data.startswith("synthetic") or data.endswith((".h5", ".hdf5")):
        return run
    from crpsgd.data.convert import convert_libsvm_to_h5

    target = out_dir / (Path(data).name + ".h5")
    if not target.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        convert_libsvm_to_h5(data, str(target), n_features=run.get("n_features"))
    return {**run, "data": os.path.relpath(target, ROOT)}


def full_gradient(problem, comm, x: np.ndarray) -> np.ndarray:
    """``grad f(x)`` over all ranks (one evaluation collective)."""
    grad = np.empty(problem.dim)
    problem.local_sums(x, grad)
    comm.eval_allreduce_sum_(grad)
    grad /= problem.n_total
    problem.regulariser(x, grad)
    return grad


def hessian_power_estimate(problem, comm, x: np.ndarray, iters: int = 30) -> float:
    """Largest |eigenvalue| of the Hessian at ``x``: power iteration on central finite
    differences of the full gradient, ``H v ~ (g(x + e v) - g(x - e v)) / (2 e)``."""
    v = np.random.default_rng(12345).standard_normal(problem.dim)
    v /= np.linalg.norm(v)
    eps = 1e-5 * max(1.0, float(np.linalg.norm(x)))
    value = 0.0
    for _ in range(iters):
        hv = full_gradient(problem, comm, x + eps * v) - full_gradient(problem, comm, x - eps * v)
        hv /= 2 * eps
        value = float(np.linalg.norm(hv))
        v = hv / value
    return value


def unit_L(problem_def: dict[str, Any], run: dict[str, Any], comm) -> float:
    """The ``L`` the grids are expressed in (see the module docstring)."""
    from crpsgd.config import merge
    from crpsgd.data.loader import load_shard
    from crpsgd.evaluation import global_smoothness
    from crpsgd.run import _make_problem

    cfg = merge({**{k: str(v) for k, v in run.items()}, "gamma": "1"}, None)  # gamma unused
    shard, n = load_shard(cfg["data"], comm.rank, comm.size, cfg["n_features"], cfg["dense"])
    problem = _make_problem(cfg, shard, n)
    if problem_def.get("unit", "bound") == "bound":
        return global_smoothness(problem, comm)[0]
    return hessian_power_estimate(problem, comm, problem.initial_point(cfg["seed"]))


# --------------------------------------------------------------------------- runs (MPI)


def completed(path: Path) -> bool:
    from crpsgd.runlog import read_run

    try:
        return path.exists() and read_run(path).status == "completed"
    except Exception:  # an unreadable log is rerun
        return False


def run_point(comm0, values: dict[str, Any], log: Path, force: bool) -> str:
    """One grid point on every rank; a diverging point is a result, not a crash."""
    from crpsgd.comm import Communicator
    from crpsgd.errors import DivergenceError
    from crpsgd.run import run_from_cli

    skip = comm0.bcast(completed(log) and not force if comm0.is_root else None)
    if skip:
        return "completed"
    cli = {k: str(v) for k, v in values.items()}
    cli.update(out=str(log), overwrite=True, quiet=True)
    try:
        run_from_cli(cli, Communicator())  # fresh round/byte counters for this run's summary
        return "completed"
    except DivergenceError as exc:
        if comm0.is_root:
            print(f"  diverged: {exc}", flush=True)
        return f"diverged: {exc}"


def run_all(spec: dict[str, Any], out_dir: Path, force: bool, only: str | None) -> None:
    from crpsgd.comm import Communicator

    comm = Communicator()
    index: dict[str, Any] = {"name": spec["name"], "n_workers": comm.size, "problems": {}}
    for pdef in spec["problem"]:
        if only and pdef["name"] != only:
            continue
        pdir = out_dir / pdef["name"]
        run = comm.bcast(prepare_data(pdef["run"], pdir) if comm.is_root else None)
        L = unit_L(pdef, run, comm)
        if comm.is_root:
            print(f"== {pdef['name']}: L = {L:.6g} ({pdef.get('unit', 'bound')})", flush=True)
        entries = []

        def one(method, point, seed, pdef=pdef, pdir=pdir, run=run, L=L, entries=entries):
            values = cli_values({**run, "seed": seed}, method, point, L)
            log = pdir / method["name"] / f"{point_id(point)}-seed{seed}.h5"
            if comm.is_root:
                print(f"{pdef['name']} {method['name']} {point_id(point)} seed {seed}", flush=True)
            status = run_point(comm, values, log, force)
            entry = {"method": method["name"], "point": point, "seed": seed, "status": status}
            entries.append({**entry, "log": os.path.relpath(log, ROOT)})
            return log

        for method in spec["method"]:
            logs = [(p, one(method, p, spec["tune_seed"])) for p in grid_points(method)]
            if comm.is_root:
                best = min(logs, key=lambda pl: score_of(pl[1], run["T"]))[0]
            best = comm.bcast(best if comm.is_root else None)
            for seed in spec["seeds"]:
                if seed != spec["tune_seed"]:
                    one(method, best, seed)
        index["problems"][pdef["name"]] = {"L": L, "run": run, "runs": entries}
    if comm.is_root:
        out_dir.mkdir(parents=True, exist_ok=True)
        old = out_dir / "index.json"
        if only and old.exists():  # keep the other problems' entries
            kept = json.loads(old.read_text())["problems"]
            index["problems"] = {**kept, **index["problems"]}
        old.write_text(json.dumps(index, indent=1))


# --------------------------------------------------------------------------- analysis


def tail_score(run, budget: int) -> float:
    """Median ``||grad f||^2`` of the evaluations with SFO >= T/2 (inf for a failed run)."""
    if run.status != "completed":
        return math.inf
    gn, sfo = run.eval["grad_norm_sq"], run.eval["sfo_per_worker"]
    tail = gn[sfo >= budget / 2]
    return float(np.median(tail)) if tail.size else float(gn[-1])


def score_of(path: Path, budget: int) -> float:
    from crpsgd.runlog import read_run

    return tail_score(read_run(path), budget) if path.exists() else math.inf


def describe_point(method: dict[str, Any], point: dict[str, Any]) -> str:
    names = {"b1": "B1", "rho": "rho", "batch": "b" if method["algo"] == "local-sgd" else "B"}
    names.update(period="H", theta="theta", gamma="gamma", outer="K")
    parts = []
    for key, value in point.items():
        if key not in names or (key == "period" and value == "auto"):
            continue
        if key == "theta":
            parts.append(f"theta={value}L")
        elif key == "gamma":
            unit = "1/(L+theta)" if method["algo"] == "cr-psgd-catalyst" else "1/L"
            parts.append(f"gamma={value}x{unit}")
        else:
            parts.append(f"{names[key]}={value}")
    if point.get("period") == "auto":
        parts.append(f"H=auto({point.get('period_rule')})")
    return ", ".join(parts)


SETTLE_WINDOW = 5


def settled(run, target: float) -> tuple[int, int] | None:
    """``(round, SFO)`` of the first logged point at which the median ``||grad f||^2`` of it and
    the ``SETTLE_WINDOW - 1`` logged points before it is <= ``target``: not a one-point dip,
    and known at that round (a trailing window; never before the first reach)."""
    gn = run.eval["grad_norm_sq"]
    for i in range(len(gn)):
        if np.median(gn[max(0, i - SETTLE_WINDOW + 1) : i + 1]) <= target:
            return int(run.eval["round"][i]), int(run.eval["sfo_per_worker"][i])
    return None


def run_row(run, budget: int, target: float) -> dict[str, Any]:
    from crpsgd.report import reached

    ok = run.status == "completed"
    hit = reached(run, target, "grad_norm_sq") if ok else None
    stay = settled(run, target) if ok else None
    s = run.summary
    return {
        "status": run.status,
        "score": tail_score(run, budget),
        "final_grad_norm_sq": s.get("grad_norm_sq", math.inf),
        "final_objective": s.get("objective", math.nan),
        "rounds": s.get("rounds"),
        "sfo_per_worker": s.get("sfo_per_worker"),
        "rounds_to_target": hit[0] if hit else None,
        "sfo_to_target": hit[1] if hit else None,
        "rounds_to_settle": stay[0] if stay else None,
        "sfo_to_settle": stay[1] if stay else None,
        "period": run.attrs.get("period"),
        "step_size": run.attrs.get("step_size"),
        "theta": run.attrs.get("theta"),
    }


SEED_MEDIANS = (
    "score",
    "final_grad_norm_sq",
    "final_objective",
    "rounds",
    "sfo_per_worker",
    "rounds_to_target",
    "sfo_to_target",
    "rounds_to_settle",
    "sfo_to_settle",
)


def summary_row(method: dict[str, Any], selected_by: str, runs: list[dict[str, Any]]):
    """One table row: a grid point of ``method`` over the seeds in ``runs`` (medians)."""
    first = runs[0]
    row = {
        "method": method["name"],
        "label": method.get("label", method["name"]),
        "selected_by": selected_by,
        "point": first["point"],
        "params": describe_point(method, first["point"]),
        "period": first["period"],
        "seeds": [r["seed"] for r in runs],
        "logs": [r["log"] for r in runs],
        "reached": sum(r["rounds_to_target"] is not None for r in runs),
        "settled": sum(r["rounds_to_settle"] is not None for r in runs),
    }
    row.update({key: _median([r[key] for r in runs]) for key in SEED_MEDIANS})
    return row


def _median(values: list[Any]) -> float | None:
    finite = [v for v in values if v is not None]
    if len(finite) < len(values):  # not reached on some seed
        return None
    return float(statistics.median(finite))


def analyse(spec: dict[str, Any], out_dir: Path, results: Path) -> dict[str, Any]:
    from crpsgd.runlog import read_run

    index = json.loads((out_dir / "index.json").read_text())
    methods = {m["name"]: m for m in spec["method"]}
    report: dict[str, Any] = {"name": spec["name"], "command": spec.get("command", "")}
    report.update(n_workers=index["n_workers"], seeds=spec["seeds"], problems=[])
    for pdef in spec["problem"]:
        pinfo = index["problems"].get(pdef["name"])
        if pinfo is None:
            continue
        budget, target = pinfo["run"]["T"], pdef["target"]
        runs = []
        for entry in pinfo["runs"]:
            path = ROOT / entry["log"]
            if path.exists():
                runs.append({**entry, **run_row(read_run(path), budget, target)})
        rows = []
        for name, method in methods.items():
            mine = [r for r in runs if r["method"] == name]
            tuned = [r for r in mine if r["seed"] == spec["tune_seed"]]
            if not tuned:
                continue
            best = min(tuned, key=lambda r: r["score"])
            rows.append(
                summary_row(method, "score", [r for r in mine if r["point"] == best["point"]])
            )
            stays = [r for r in tuned if r["rounds_to_settle"] is not None]
            if stays:
                fast = min(stays, key=lambda r: (r["rounds_to_settle"], r["score"]))
                rows.append(summary_row(method, "fewest rounds to settle", [fast]))
            ref = method.get("reference")
            within = [r for r in tuned if ref and all(r["point"][k] == v for k, v in ref.items())]
            if within:
                pick = min(within, key=lambda r: r["score"])
                rows.append(summary_row(method, f"score, {method['reference_label']}", [pick]))
        report["problems"].append(
            {
                "name": pdef["name"],
                "title": pdef.get("title", pdef["name"]),
                "target": target,
                "L": pinfo["L"],
                "unit": pdef.get("unit", "bound"),
                "run": pinfo["run"],
                "rows": rows,
                "runs": runs,
            }
        )
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{spec['name']}.json").write_text(to_json(report))
    table = markdown(report, spec)
    (results / f"{spec['name']}.md").write_text(table + "\n")
    print(table)
    draw(report, results)
    return report


def _round(value: Any) -> Any:
    """Floats to 4 significant digits (whole ones to ints, inf to a string), recursively."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return format(value, "g")
        return int(value) if value.is_integer() else float(format(value, ".4g"))
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def to_json(report: dict[str, Any]) -> str:
    """The report as JSON with one line per run (the logs hold the curves)."""
    report = _round(report)
    runs = {p["name"]: p.pop("runs") for p in report["problems"]}
    text = json.dumps(report, indent=1)
    for name, rows in runs.items():
        lines = ",\n".join(
            "  " + json.dumps({k: v for k, v in r.items() if k != "log"}) for r in rows
        )
        text = text.replace(
            f'"name": "{name}",', f'"name": "{name}",\n  "runs": [\n{lines}\n  ],', 1
        )
    return text + "\n"


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "not reached"
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return format(value, spec)


def _at(row: dict[str, Any], kind: str) -> str:
    """``round (SFO)`` of ``kind`` (``target`` or ``settle``), or how many seeds got there."""
    rounds, sfo = row[f"rounds_to_{kind}"], row[f"sfo_to_{kind}"]
    if rounds is not None:
        return f"{rounds:.0f} ({sfo:.0f})"
    count = row["reached" if kind == "target" else "settled"]
    return f"{count} of {len(row['seeds'])} seeds" if count else "not reached"


def markdown(report: dict[str, Any], spec: dict[str, Any]) -> str:
    lines = []
    for p in report["problems"]:
        run = p["run"]
        lines += [
            f"**{p['title']}** -- N = {report['n_workers']}, T = {run['T']} SFO per worker, "
            f"target ||grad f||^2 <= {p['target']:g}, L = {p['L']:.4g} ({p['unit']})",
            "",
            "| method | selected by | parameters | first <= target: round (SFO/worker) | "
            "settled <= target: round (SFO/worker) | rounds | SFO/worker | "
            "||grad f||^2, 2nd half (median) | final f |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in p["rows"]:
            n_seeds = len(r["seeds"])
            seeds = f" ({n_seeds} seeds)" if n_seeds > 1 else ""
            lines.append(
                f"| {r['label']} | {r['selected_by']}{seeds} | {r['params']} | "
                f"{_at(r, 'target')} | {_at(r, 'settle')} | {_fmt(r['rounds'], '.0f')} | "
                f"{_fmt(r['sfo_per_worker'], '.0f')} | {_fmt(r['score'], '.2e')} | "
                f"{_fmt(r['final_objective'], '.5f')} |"
            )
        lines.append("")
    grids = "; ".join(
        f"{m.get('label', m['name'])}: "
        + ", ".join(f"{k} in {v}" for k, v in m.items() if isinstance(v, list))
        for m in spec["method"]
    )
    refs = "; ".join(
        f"{m.get('label', m['name'])}, {m['reference_label']}: "
        + ", ".join(f"{k} = {v}" for k, v in m["reference"].items())
        for m in spec["method"]
        if m.get("reference")
    )
    lines += [
        f"Command: `{report['command']}`. Grids (theta in units of L; gamma in units of 1/L, "
        f"for Catalyst of 1/(L+theta)): {grids}. Every grid point ran on seed "
        f"{spec['tune_seed']}; 'score' rows: the point with the smallest median ||grad f||^2 "
        f"over the evaluations in the second half of the budget, run on seeds {spec['seeds']} "
        "(medians over them). 'fewest rounds to settle' rows: the point (seed "
        f"{spec['tune_seed']}) that settled below the target after the fewest rounds. "
        f"Restricted rows ({refs}): the best-scoring point (seed {spec['tune_seed']}) with those "
        "parameters, the setting of the theory's comparison. 'first': "
        "the first logged evaluation with ||grad f||^2 <= target; 'settled': the first logged "
        "evaluation at which the median of it and the four before it is <= target. Evaluations are "
        "spaced by the factor eval_factor in SFO, so both are upper bounds at that resolution.",
    ]
    return "\n".join(lines)


def draw(report: dict[str, Any], results: Path) -> None:
    try:
        from crpsgd.plot import plot_runs
        from crpsgd.runlog import read_run
    except ImportError:
        return
    for p in report["problems"]:
        chosen, seen = [], set()
        for r in p["rows"]:  # the tuned points and the restricted (theory's setting) ones
            if r["selected_by"].startswith("score") and r["logs"][0] not in seen:
                seen.add(r["logs"][0])
                chosen.append(r)
        chosen = [r for r in chosen if (ROOT / r["logs"][0]).exists()]
        if not chosen:
            continue
        runs = [read_run(ROOT / r["logs"][0]) for r in chosen]
        labels = [f"{r['label']}: {r['params']}" for r in chosen]
        try:
            plot_runs(
                runs,
                results / f"{report['name']}-{p['name']}",
                metrics=("grad_norm_sq", "objective"),
                title=f"{p['title']} (target {p['target']:g})",
                formats=("png",),
                labels=labels,
            )
        except Exception as exc:  # matplotlib missing: the tables are still written
            print(f"no figure: {exc}", file=sys.stderr)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("definition", type=Path)
    parser.add_argument("--out-dir", type=Path, help="logs [default: bench/out/<name>]")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--only", help="run only the problem of this name")
    parser.add_argument("--force", action="store_true", help="rerun completed grid points")
    parser.add_argument("--analyse-only", action="store_true", help="tables and figures only")
    parser.add_argument("--quick", action="store_true", help="the [quick] short version")
    parser.add_argument("--data-dir", help="directory of the data files [the definition's]")
    args = parser.parse_args(argv)
    spec = tomllib.loads(args.definition.read_text())
    if args.quick:
        spec = quick_version(spec)
    if args.data_dir:
        spec = with_data_dir(spec, args.data_dir)
    os.chdir(ROOT)  # data paths in the definition and the logs are relative to the project
    out_dir = args.out_dir or ROOT / "bench" / "out" / spec["name"]
    if not args.analyse_only:
        run_all(spec, out_dir, args.force, args.only)
        from mpi4py import MPI

        if MPI.COMM_WORLD.Get_rank() != 0:
            return 0
    analyse(spec, out_dir, args.results_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
