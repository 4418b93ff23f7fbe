"""Run one experiment definition (a TOML file under bench/) on all MPI ranks, then analyse it.

    mpiexec -n 10 python -m bench experiment bench/logreg_a9a.toml      # run + analyse
    mpiexec -n 8 python -m bench experiment bench/catalyst.toml         # resumable (see [select])
    python -m bench experiment bench/logreg_a9a.toml --analyse-only     # tables, figures
    mpiexec -n 8 python -m bench experiment bench/catalyst.toml --quick --data-dir DIR \
        --out-dir OUT/logs --results-dir OUT                           # jobs/catalyst_n8.sbatch

SPMD, like ``crpsgd run``: every rank runs this script, and each run is one call of
:func:`crpsgd.session.run.run_from_cli` (the command line's code path and HDF5 log). A definition is
either a single problem (``[run]`` + ``[grid]``, e.g. ``bench/logreg_a9a.toml``) or a list of
``[[problem]]`` tables (``bench/catalyst.toml``); both are commented, and ``bench/runner/``
documents every key (:mod:`runner.definition`, the ``[select]`` rules in :mod:`runner.select`).

``--quick`` applies the definition's ``[quick]`` table (the SLURM test's short version, results
named ``<name>-quick``); ``--data-dir`` replaces the directory of every data file. Logs go to
``bench/out/<name>/`` (not committed); ``bench/results/<name>.json`` (every run, the choices),
``<name>.md`` (the tables) and the PNG figures to ``--results-dir``; the JSON also keeps the
figures' curves. ``--analyse-only`` without logs redraws the tables from the committed JSON
where it holds every run's numbers, and the figures where it keeps their curves; else it
says which command makes the logs (exit status 2).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.runner import definition
from bench.runner.analyse import NothingToAnalyse, analyse, has_rows
from bench.runner.rows import ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("definition", type=Path)
    parser.add_argument("--out-dir", type=Path, help="logs [default: bench/out/<name>]")
    parser.add_argument("--results-dir", type=Path, help="tables/figures [default: bench/results]")
    parser.add_argument("--only", help="run only the problem or the method of this name")
    parser.add_argument("--force", action="store_true", help="rerun completed grid points")
    parser.add_argument("--analyse-only", action="store_true", help="tables and figures only")
    parser.add_argument("--quick", action="store_true", help="apply the [quick] overrides")
    parser.add_argument("--data-dir", help="directory of the data files [the definition's]")
    args = parser.parse_args(argv)
    try:
        spec = definition.load(args.definition, args.quick, args.data_dir)
    except definition.DefinitionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = [p["name"] for p in definition.problems(spec)] + [m["name"] for m in spec["method"]]
    if args.only is not None and args.only not in names:
        known = ", ".join(n for n in names if n)
        print(f"error: --only {args.only}: not a problem or method of {args.definition} ({known})",
              file=sys.stderr)  # fmt: skip
        return 2
    out_dir = (args.out_dir or ROOT / "bench" / "out" / spec["name"]).resolve()
    results = (args.results_dir or ROOT / "bench" / "results").resolve()
    os.chdir(ROOT)  # data paths in the definitions and the logs' paths are relative to it
    if not args.analyse_only:
        from mpi4py import MPI

        from bench.runner.execute import run_all
        from crpsgd.errors import UsageError

        try:
            run_all(spec, out_dir, args.force, args.only)
        except UsageError as exc:  # every rank meets it (the run's own checks agree)
            if MPI.COMM_WORLD.Get_rank() == 0:
                print(f"error: {args.definition}: {exc}", file=sys.stderr)
            return 2
        if MPI.COMM_WORLD.Get_rank() != 0:
            return 0
    try:
        report = analyse(spec, out_dir, results)
    except NothingToAnalyse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if has_rows(report) else 1


if __name__ == "__main__":
    sys.exit(main())
