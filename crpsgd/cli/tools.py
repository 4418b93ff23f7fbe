"""``crpsgd info | report | plot | export | repair | convert``: the tools that read run logs
and convert data (rank 0 only; no MPI). :func:`add_tool_parsers` adds their sub-commands,
:data:`TOOLS` maps each name to its handler."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

METRIC_CHOICES = ("suboptimality", "objective", "grad_norm_sq", "test_accuracy", "test_loss")
X_CHOICES = ("sfo", "epochs", "rounds", "seconds")
_RUNS_HELP = "run logs written by crpsgd run"


def add_tool_parsers(sub: Any) -> None:
    """The sub-commands that read run logs or convert data."""
    info = sub.add_parser("info", help="configuration and summary of run logs")
    info.add_argument(
        "runs",
        nargs="+",
        metavar="RUN.h5",
        help="run logs written by crpsgd run; one: its configuration, provenance and summary; "
        "several: one table, with a column for each setting in which they differ",
    )
    rep = sub.add_parser(
        "report", help="comparison table: rounds, SFO, objective, rounds to a target, seconds"
    )
    rep.add_argument("runs", nargs="+", metavar="RUN.h5", help=_RUNS_HELP + "; one row each")
    rep.add_argument(
        "--target",
        type=_float_arg("--target"),
        help="also give the rounds and SFO at which each run first logged metric <= TARGET",
    )
    rep.add_argument(
        "--metric",
        choices=("suboptimality", "objective", "grad_norm_sq"),
        help="metric of --target [default: f - f* when the run knows f*, else ||grad f||^2]",
    )
    rep.add_argument(
        "--format",
        choices=("text", "csv", "json"),
        default="text",
        help="output format (json: a value that is not a number is null, with the reason in "
        "the row's why_null) [default: text]",
    )
    plot = sub.add_parser("plot", help="figures of run logs (PNG and PDF)")
    plot.add_argument("runs", nargs="+", metavar="RUN.h5", help=_RUNS_HELP)
    plot.add_argument(
        "--out",
        required=True,
        help="output path without extension (OUT.png, OUT.pdf); missing folders are created",
    )
    plot.add_argument(
        "--metric",
        action="append",
        choices=("auto", *METRIC_CHOICES),
        help="one row of panels per metric; repeatable; auto: f - f* when every run knows f*, "
        "f and ||grad f||^2 (and test accuracy when logged) for non-convex problems, else f "
        "[default: auto]",
    )
    plot.add_argument(
        "--x",
        action="append",
        choices=X_CHOICES,
        help="one panel per x axis; repeatable: sfo (SFO per worker), epochs (passes over the "
        "training rows), rounds, seconds [default: sfo and rounds; epochs and rounds for "
        "torch problems]",
    )
    plot.add_argument(
        "--xscale",
        choices=("log", "linear"),
        default="log",
        help="scale of every x axis (log: the early rounds are not squashed; points at 0 are "
        "left out) [default: log]",
    )
    plot.add_argument("--title", help="figure title; matplotlib math text between $...$")
    plot.add_argument(
        "--format",
        action="append",
        choices=("png", "pdf", "svg"),
        help="file format; repeatable [default: png and pdf]",
    )
    conv = sub.add_parser("convert", help="convert a LIBSVM text file to crpsgd HDF5")
    conv.add_argument("source", metavar="IN", help="LIBSVM text file to read")
    conv.add_argument(
        "target", metavar="OUT", help="crpsgd HDF5 data file to write (each rank reads its rows)"
    )
    conv.add_argument(
        "--n-features",
        dest="n_features",
        type=str,
        default=None,
        help="feature count d (at least the largest index; pass the training width when "
        "converting a test file) [default: the largest index]",
    )
    conv.add_argument("--dense", action="store_true", help="store a dense matrix")
    conv.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    _add_log_tools(sub)


def _add_log_tools(sub: Any) -> None:
    """The ``export`` and ``repair`` sub-commands."""
    exp = sub.add_parser("export", help="write a run log as CSV or JSON files pandas reads")
    exp.add_argument("run", metavar="RUN.h5", help="run log to export")
    exp.add_argument(
        "--to", required=True, choices=("csv", "json"), help="file format of the tables"
    )
    exp.add_argument(
        "directory",
        metavar="DIR",
        help="directory to write rounds, eval, outer, result and attributes files into "
        "(created when missing)",
    )
    exp.add_argument("--overwrite", action="store_true", help="replace existing files in DIR")
    rep = sub.add_parser(
        "repair",
        help="make a log whose job was killed readable by any HDF5 tool (h5py, h5dump)",
    )
    rep.add_argument(
        "runs",
        nargs="+",
        metavar="RUN.h5",
        help="run logs; a log whose writer is still alive is refused",
    )


def _read_runs(paths: list[str]) -> list[Any]:
    """Read run logs; a log whose writer is gone is first repaired for plain HDF5 readers
    (said on stderr)."""
    from crpsgd.runlog import read_run

    runs = [read_run(p, repair_dead=True) for p in paths]
    for run in runs:
        if run.repaired:
            print(
                f"crpsgd: note: {run.path}: its writer is gone; rewrote it so that any HDF5 "
                "tool opens it",
                file=sys.stderr,
            )
    return runs


def _info(paths: list[str]) -> None:
    from crpsgd.analysis.report import describe, summary_table

    runs = _read_runs(paths)
    print(describe(runs[0]) if len(runs) == 1 else summary_table(runs))


def _export(args: argparse.Namespace) -> None:
    from crpsgd.analysis.export import export

    (run,) = _read_runs([args.run])
    written = export(run, args.to, args.directory, overwrite=args.overwrite)
    print("wrote " + " ".join(str(p) for p in written))


def _repair(paths: list[str]) -> None:
    from crpsgd.runlog import read_run, repair

    for path in paths:
        if repair(path):
            print(f"{path}: repaired: {read_run(path).status_text()}")
        else:
            print(f"{path}: opens with any HDF5 reader; nothing to repair")


def _float_arg(flag: str):
    def parse(text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}={text!r}: expected a number") from None

    return parse


def _report(args: argparse.Namespace) -> None:
    from crpsgd.analysis.report import comparison_rows, comparison_table

    runs = _read_runs(args.runs)
    if args.format == "text":
        print(comparison_table(runs, args.target, args.metric))
        return
    rows = comparison_rows(runs, args.target, args.metric)
    if args.format == "json":
        from crpsgd.cli.json_out import dumps

        print(dumps(rows))
        return
    import csv

    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


def _plot(args: argparse.Namespace) -> None:
    from crpsgd.analysis.plot import plot_runs

    runs = _read_runs(args.runs)
    written = plot_runs(
        runs,
        args.out,
        metrics=args.metric or ("auto",),
        title=args.title,
        formats=args.format or ("png", "pdf"),
        x=args.x,
        xscale=args.xscale,
    )
    print("wrote " + " ".join(str(p) for p in written))


def _convert(args: argparse.Namespace) -> None:
    from crpsgd.data.convert import convert_libsvm_to_h5
    from crpsgd.params import convert
    from crpsgd.registry.config import PARAMS_BY_NAME

    n_features = convert(PARAMS_BY_NAME["n_features"], args.n_features, "command line")
    info: dict[str, Any] = convert_libsvm_to_h5(
        args.source,
        args.target,
        n_features=n_features,
        dense=args.dense,
        overwrite=args.overwrite,
    )
    print(f"{args.source} -> {Path(args.target)}: {json.dumps(info, default=str)}")


#: Handler of each sub-command that reads run logs or converts data.
TOOLS: dict[str, Callable[[argparse.Namespace], None]] = {
    "info": lambda args: _info(args.runs),
    "report": _report,
    "plot": _plot,
    "convert": _convert,
    "export": _export,
    "repair": lambda args: _repair(args.runs),
}
