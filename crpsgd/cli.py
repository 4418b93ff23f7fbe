"""crpsgd: parallel SGD with growing batches on MPI, and tools for its HDF5 run logs.

Sub-commands: ``run``, ``info``, ``report``, ``plot``, ``export``, ``repair``, ``convert``,
``project``.

SPMD: under ``mpirun -n N crpsgd run ...`` every rank runs :func:`main`; rank 0 prints and
writes the log. Exit status: 0 done; 2 bad input (one message from rank 0, every rank
exits); 3 divergence (a non-finite gradient, iterate or objective) and 4 replicas that
differ (``--check-sync``), both one message from rank 0; 75 stopped by SIGTERM, SIGUSR1 or
SIGINT after writing a checkpoint (run again with ``--resume``); 1 a failure on some rank
during the run, an output that cannot be written included (that rank prints one message
naming itself, has rank 0 record it in the log, and aborts the whole job); 130 a second
SIGINT on a rank, and ``128 + n`` a signal ``n`` that would have ended a rank (SIGHUP,
SIGQUIT, SIGUSR2, SIGALRM, SIGXCPU): the job is aborted the same way
(:mod:`crpsgd.lifecycle`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from crpsgd import __version__, cli_torch
from crpsgd.errors import (
    AllRanksError,
    OutputError,
    Preempted,
    Terminated,
    UsageError,
    describe_failure,
)

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing, so only rank 0 reports the mistake."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="crpsgd",
        description=__doc__.splitlines()[0],
        epilog="crpsgd COMMAND --help describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"crpsgd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run an algorithm on all MPI ranks and log it to HDF5")
    _add_run_flags(run)

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
    rep.add_argument("runs", nargs="+", metavar="RUN.h5")
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
        "--format", choices=("text", "csv", "json"), default="text", help="output format"
    )

    plot = sub.add_parser("plot", help="the paper's panels (PNG and PDF) from run logs")
    plot.add_argument("runs", nargs="+", metavar="RUN.h5")
    plot.add_argument("--out", required=True, help="output path without extension (OUT.png/.pdf)")
    plot.add_argument(
        "--metric",
        action="append",
        choices=("auto", "suboptimality", "objective", "grad_norm_sq"),
        help="one row of panels per metric; repeatable [default: auto]",
    )
    plot.add_argument("--title", help="figure title")
    plot.add_argument(
        "--format", action="append", choices=("png", "pdf", "svg"), help="[default: png and pdf]"
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
    _add_project_parser(sub)
    cli_torch.add_parser(sub)  # crpsgd digits-cifar10: the torch problem's stand-in data
    return parser


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
        help="directory to write rounds, eval, outer, result and attributes files into",
    )
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


def _add_run_flags(run: argparse.ArgumentParser) -> None:
    """The flags of ``crpsgd run``, in one argument group per owner: the common ones, then
    those of each problem, algorithm and schedule (:func:`crpsgd.parts.param_groups`)."""
    from crpsgd.parts import param_groups

    for title, params in param_groups():
        group = run.add_argument_group(title)
        if title == "common options":
            group.add_argument("--config", help="TOML file of parameters (flags override it)")
            group.add_argument(
                "--resume",
                metavar="CHECKPOINT",
                help="continue the checkpointed run (same number of ranks), appending to its log",
            )
        for p in params:
            if p.kind is bool:
                group.add_argument(
                    p.flag, dest=p.name, action="store_const", const=True, help=p.help
                )
                continue
            extra = f" (choices: {', '.join(p.choices)})" if p.choices else ""
            default = f" [default: {p.default}]" if p.default is not None else ""
            group.add_argument(
                p.flag, dest=p.name, metavar=p.name.upper(), help=f"{p.help}{extra}{default}"
            )


def _rank() -> int:
    """This process's MPI rank, without initialising MPI if nothing did yet."""
    if "mpi4py.MPI" in sys.modules:
        return sys.modules["mpi4py.MPI"].COMM_WORLD.Get_rank()
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``crpsgd`` command; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "run":
            _run(args, in_process=argv is not None)
        elif args.command == "info":
            _info(args.runs)
        elif args.command == "report":
            _report(args)
        elif args.command == "plot":
            _plot(args)
        elif args.command == "convert":
            _convert(args)
        elif args.command == "export":
            _export(args)
        elif args.command == "repair":
            _repair(args.runs)
        elif args.command == "project":
            _project(args)
        elif args.command == cli_torch.COMMAND:
            cli_torch.main(args)
        return 0
    except UsageError as exc:
        if _rank() == 0:
            print(f"crpsgd: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except AllRanksError as exc:  # divergence, replica mismatch, stop: every rank is here
        if _rank() == 0:
            kind = "" if isinstance(exc, Preempted) else "error: "
            print(f"crpsgd: {kind}{_with_resume_hint(exc)}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        return _fail_alone(describe_failure(exc), EXIT_INTERRUPTED)
    except Terminated as exc:
        return _fail_alone(describe_failure(exc), exc.exit_code)
    except OutputError as exc:
        code = _fail_alone(describe_failure(exc), EXIT_FAILURE)
        if argv is None:  # the command itself, not a caller in Python: see _exit_now
            _exit_now(code)
        return code
    except Exception as exc:  # one message naming the rank, then the whole job ends
        return _fail_alone(describe_failure(exc), EXIT_FAILURE)


def _with_resume_hint(exc: AllRanksError) -> str:
    """A stopped run's message ends with the exact command that resumes it (its launcher and
    rank count included)."""
    if not isinstance(exc, Preempted):
        return str(exc)
    from crpsgd.launch import resume_command

    size = sys.modules["mpi4py.MPI"].COMM_WORLD.Get_size() if "mpi4py.MPI" in sys.modules else 1
    return (
        f"stopped on request after round {exc.rounds}; checkpoint written to {exc.path}; "
        f"continue with: {resume_command(exc.path, size)}"
    )


def _fail_alone(what: str, code: int) -> int:
    """This rank failed on its own (the others may wait in a collective): print one
    message naming it, have rank 0 record it in the log, abort the whole job.

    Nothing here may stop the abort: a second failure (the message cannot be printed, the
    log cannot be closed, another signal) is dropped, and the abort still happens."""
    message = f"rank {_rank()}: {what}"
    try:
        try:
            print(f"crpsgd: {message}", file=sys.stderr, flush=True)
            if os.environ.get("CRPSGD_TRACEBACK"):
                traceback.print_exc()
        finally:
            if "mpi4py.MPI" in sys.modules:
                from crpsgd.comm import abort_job, report_failure, world_size

                if world_size() > 1:
                    try:
                        report_failure(message)
                    finally:
                        abort_job(code)
    except BaseException:  # a second failure on the way out; the first one is reported
        if "mpi4py.MPI" in sys.modules and sys.modules["mpi4py.MPI"].COMM_WORLD.Get_size() > 1:
            sys.modules["mpi4py.MPI"].COMM_WORLD.Abort(code)
    return code


def _exit_now(code: int) -> None:
    """End the process without running finalisers: after a write failed, HDF5 would try
    to flush the broken file again while the interpreter shuts down (more error text, and
    on a full disk a crash); every row flushed before the failure is on disk already."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # a closed pipe changes nothing now
            pass
    os._exit(code)


def _run(args: argparse.Namespace, in_process: bool = False) -> None:
    """``crpsgd run``: signal handlers first, then MPI (guarded), then the run, in which
    numpy's floating-point warnings are off (non-finite values are checked and reported
    once, as divergence). ``in_process``: called from Python (``main(argv)``), whose own
    signal handlers come back afterwards."""
    from crpsgd import lifecycle
    from crpsgd.launch import throttle_if_oversubscribed

    previous = lifecycle.install_signal_handlers()
    try:
        throttle_if_oversubscribed()  # before MPI starts: MPICH reads it in MPI_Init
        _cap_budget_for_tests(args)
        lifecycle.test_hook("before-mpi", _rank())
        lifecycle.guarded_mpi_start(_rank())
        lifecycle.install_signal_handlers()  # again: MPI_Init may take some (UCX: SIGHUP)
        lifecycle.test_hook("setup", _rank())
        import numpy as np

        from crpsgd.run import run_from_cli

        with np.errstate(all="ignore"):
            cli = {k: v for k, v in vars(args).items() if k != "command"}
            run_from_cli(cli, command_line=True)
    finally:
        if in_process:
            lifecycle.restore_signal_handlers(previous)


def _cap_budget_for_tests(args: argparse.Namespace) -> None:
    """``CRPSGD_TEST_MAX_T=<T>``, a hook for tests only (the README-commands test): a new
    run's ``--T`` (given, from ``--config``, or the default) is at most ``T``."""
    cap = os.environ.get("CRPSGD_TEST_MAX_T")
    if not cap or getattr(args, "resume", None):
        return
    try:
        given = int(float(args.T)) if args.T is not None else None
    except ValueError:
        return  # left for the configuration check to report
    args.T = str(min(given, int(cap)) if given is not None else int(cap))


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
    from crpsgd.report import describe, summary_table

    runs = _read_runs(paths)
    print(describe(runs[0]) if len(runs) == 1 else summary_table(runs))


def _export(args: argparse.Namespace) -> None:
    from crpsgd.export import export

    (run,) = _read_runs([args.run])
    written = export(run, args.to, args.directory)
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
    from crpsgd.report import comparison_rows, comparison_table

    runs = _read_runs(args.runs)
    if args.format == "text":
        print(comparison_table(runs, args.target, args.metric))
        return
    rows = comparison_rows(runs, args.target, args.metric)
    if args.format == "json":
        print(json.dumps(rows, indent=1))
        return
    import csv

    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


def _plot(args: argparse.Namespace) -> None:
    from crpsgd.plot import plot_runs

    runs = _read_runs(args.runs)
    written = plot_runs(
        runs,
        args.out,
        metrics=args.metric or ("auto",),
        title=args.title,
        formats=args.format or ("png", "pdf"),
    )
    print("wrote " + " ".join(str(p) for p in written))


def _convert(args: argparse.Namespace) -> None:
    from crpsgd.config import PARAMS_BY_NAME, convert
    from crpsgd.data.convert import convert_libsvm_to_h5

    n_features = convert(PARAMS_BY_NAME["n_features"], args.n_features, "command line")
    info: dict[str, Any] = convert_libsvm_to_h5(
        args.source,
        args.target,
        n_features=n_features,
        dense=args.dense,
        overwrite=args.overwrite,
    )
    print(f"{args.source} -> {Path(args.target)}: {json.dumps(info, default=str)}")


def _add_project_parser(sub: Any) -> None:
    from crpsgd.network import ALGORITHMS, PRESETS
    from crpsgd.projection import SCALINGS

    proj = sub.add_parser(
        "project", help="projected wall time of logged runs on a cluster of 8 .. 1024 nodes"
    )
    proj.add_argument("runs", nargs="+", metavar="RUN.h5")
    proj.add_argument("--network", choices=tuple(PRESETS), help="an interconnect preset")
    proj.add_argument("--alpha", help="latency per message, seconds (instead of --network)")
    proj.add_argument("--beta", help="seconds per byte (instead of --network)")
    proj.add_argument(
        "--gamma-op", dest="gamma_op", help="seconds per byte of the local reduction [1e-10]"
    )
    proj.add_argument(
        "--nodes", default="8,16,32,64,128,256,512,1024", help="comma-separated node counts"
    )
    proj.add_argument("--scaling", choices=SCALINGS, default="weak", help="[default: weak]")
    proj.add_argument("--allreduce", choices=ALGORITHMS, default="mpich", help="[default: mpich]")
    proj.add_argument("--format", choices=("text", "json"), default="text")


def _positive_float(flag: str, text: str, allow_zero: bool = False) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{flag}={text!r}: expected a number") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise UsageError(f"{flag}={text!r}: must be a finite number {bound}")
    return value


def _node_counts(text: str) -> list[int]:
    from crpsgd.projection import MAX_NODES

    counts = []
    for item in text.split(","):
        try:
            p = int(item.strip())
        except ValueError:
            raise UsageError(f"--nodes={text!r}: {item.strip()!r} is not an integer") from None
        if not 1 <= p <= MAX_NODES:
            raise UsageError(f"--nodes={text!r}: {p} is not in 1..{MAX_NODES}")
        counts.append(p)
    return counts


def _project(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from crpsgd.network import PRESETS, Network
    from crpsgd.projection import profile_from_record, projection_rows, projection_table
    from crpsgd.runlog import read_run

    if args.network is not None and (args.alpha is not None or args.beta is not None):
        raise UsageError("--network and --alpha/--beta: give one or the other, not both")
    if args.network is not None:
        net = PRESETS[args.network]
    elif args.alpha is not None and args.beta is not None:
        alpha = _positive_float("--alpha", args.alpha)
        beta = _positive_float("--beta", args.beta)
        net = Network("custom", alpha, beta)
    else:
        raise UsageError("crpsgd project needs --network NAME or both --alpha and --beta")
    if args.gamma_op is not None:
        net = replace(net, gamma=_positive_float("--gamma-op", args.gamma_op, allow_zero=True))
    nodes = _node_counts(args.nodes)
    profiles = [profile_from_record(read_run(p)) for p in args.runs]
    if args.format == "json":
        rows = projection_rows(profiles, net, nodes, args.scaling, args.allreduce)
        print(json.dumps(rows, indent=1))
    else:
        print(projection_table(profiles, net, nodes, args.scaling, args.allreduce))
