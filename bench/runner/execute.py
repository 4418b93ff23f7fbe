"""Running a definition's grid on every MPI rank (SPMD, like ``crpsgd run``).

Each run is one call of :func:`crpsgd.session.run.run_from_cli`, the command line's code path and
HDF5 log, inside one MPI job, so data loading, Numba compilation and MPI start-up are paid once.
Per problem: a LIBSVM file is converted to HDF5 once (each rank then reads only its rows); every
grid point of every method runs on the tuning seeds; the points that the ``score`` and
``max_rounds`` rows choose (:mod:`runner.select`) then run on the other seeds. The index of
every run goes to ``<out-dir>/index.json`` (:mod:`runner.rows`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench.runner import definition as d
from bench.runner.rows import ROOT, entry, read_index, rows_from_logs
from bench.runner.select import points_for_all_seeds
from bench.runner.units import unit_L


def prepare_data(run: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """LIBSVM text -> HDF5 once, beside the logs (rank 0); returns the changed parameters."""
    data = run.get("data", "")
    if data.startswith(("synthetic", "cifar10:")) or data.endswith((".h5", ".hdf5")):
        return {}
    from crpsgd.data.convert import convert_libsvm_to_h5

    changed = {}
    for key in ("data", "test_data"):
        src = run.get(key)
        if not src:
            continue
        target = out_dir / (Path(src).name + ".h5")
        if not target.exists():
            out_dir.mkdir(parents=True, exist_ok=True)
            convert_libsvm_to_h5(src, str(target), n_features=run.get("n_features"))
        changed[key] = os.path.relpath(target, ROOT)
    return changed


def completed(path: Path) -> bool:
    """Whether the log at ``path`` holds a completed run (an unreadable one does not)."""
    from crpsgd.runlog import read_run

    try:
        return path.exists() and read_run(path).status == "completed"
    except Exception:  # a truncated or foreign file is run again
        return False


def run_point(comm, values: dict[str, Any], log: Path, skip_completed: bool) -> str:
    """One run on every rank: its status. A diverging run is a result, not a crash; a
    ``--algo`` this build does not know is reported as ``unknown algo``."""
    from crpsgd.comm.communicator import Communicator
    from crpsgd.errors import DivergenceError, UsageError
    from crpsgd.session.run import run_from_cli

    if comm.bcast(completed(log) and skip_completed if comm.is_root else None):
        return "completed"
    cli = {k: str(v) for k, v in values.items()}
    cli.update(out=str(log), overwrite=True, quiet=True)
    try:
        run_from_cli(cli, Communicator())  # fresh round/byte counters for this run's summary
        return "completed"
    except DivergenceError as exc:
        if comm.is_root:
            print(f"  diverged: {exc}", flush=True)
        return f"diverged: {exc}"
    except UsageError as exc:
        if str(exc).startswith(f"--algo={values['algo']!r}"):  # the value itself is unknown
            return "unknown algo"
        raise


def run_all(spec: dict[str, Any], out_dir: Path, force: bool, only: str | None) -> None:
    """Every grid point of the definition (``only``: of this problem or method)."""
    from crpsgd.comm.communicator import Communicator

    comm = Communicator()
    skip_completed = spec["select"]["resume"] and not force
    tune, every = d.tune_seeds(spec), d.seeds(spec)
    index: dict[str, Any] = {"name": spec["name"], "n_workers": comm.size, "problems": {}}
    index["skipped"] = []
    problem_names = [p["name"] for p in d.problems(spec)]
    for pdef in d.problems(spec):
        if only in problem_names and pdef["name"] != only:
            continue
        pdir = out_dir if pdef["name"] is None else out_dir / pdef["name"]
        pdef["run"].update(comm.bcast(prepare_data(pdef["run"], pdir) if comm.is_root else None))
        L = unit_L(pdef, pdef["run"], comm)
        if comm.is_root and pdef["name"] is not None:
            print(f"== {pdef['name']}: L = {L:.6g} ({pdef.get('unit', 'bound')})", flush=True)
        entries: list[dict[str, Any]] = []
        for method in spec["method"]:
            if only in _names(spec) and method["name"] != only:
                continue

            def one(point, seed, method=method, pdef=pdef, L=L, entries=entries) -> str:
                values = {**d.cli_values(spec, pdef["run"], method, point, L), "seed": seed}
                log = d.log_path(spec, out_dir, pdef, method, point, seed)
                if comm.is_root:
                    where = f"{pdef['name']} " if pdef["name"] else ""
                    print(
                        f"{where}{method['name']} {d.point_id(spec, point)} seed {seed}", flush=True
                    )
                status = run_point(comm, values, log, skip_completed)
                if status != "unknown algo":
                    rel = os.path.relpath(log, ROOT)
                    entries.append(entry(spec, method["name"], point, seed, status, rel))
                return status

            first = len(entries)
            for point in d.method_points(spec, method):
                statuses = [one(point, seed) for seed in tune]
                if "unknown algo" in statuses:
                    reason = f"--algo {method['algo']} not in this build"
                    index["skipped"].append({"method": method["name"], "reason": reason})
                    break
            else:
                chosen = None
                if comm.is_root:
                    pinfo = {"run": pdef["run"], "runs": entries[first:]}
                    rows = rows_from_logs(spec, pdef, pinfo)
                    chosen = points_for_all_seeds(rows, method, spec["select"], tune)
                for point in comm.bcast(chosen):
                    for seed in every:
                        if seed not in tune:
                            one(point, seed)
        index["problems"]["" if pdef["name"] is None else pdef["name"]] = {
            "L": L,
            "run": pdef["run"],
            "runs": entries,
        }
    if comm.is_root:
        _write_index(out_dir, index, keep_others=only in problem_names)


def _names(spec) -> tuple[str, ...]:
    return tuple(m["name"] for m in spec["method"])


def _write_index(out_dir: Path, index: dict[str, Any], keep_others: bool) -> None:
    """``index.json`` in each shape's layout (the single shape's problem at the top)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.json"
    if keep_others and path.exists():  # --only one problem: keep the others' entries
        index["problems"] = {**read_index(path)["problems"], **index["problems"]}
    if "" in index["problems"]:
        single = index["problems"][""]
        layout = {"name": index["name"], "L": single["L"], "n_workers": index["n_workers"]}
        index = {**layout, "runs": single["runs"], "skipped": index["skipped"]}
    elif not index["skipped"]:
        del index["skipped"]
    path.write_text(json.dumps(index, indent=1))
