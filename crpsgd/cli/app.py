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
(:mod:`crpsgd.comm.lifecycle`).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import traceback

from crpsgd import __version__, _testing
from crpsgd.cli import torch_tools as cli_torch
from crpsgd.cli.project import add_project_parser, project
from crpsgd.cli.tools import TOOLS, add_tool_parsers
from crpsgd.errors import (
    AllRanksError,
    OutputError,
    PeerLost,
    Preempted,
    Terminated,
    UsageError,
    describe_failure,
)
from crpsgd.params import describe

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

    add_tool_parsers(sub)
    add_project_parser(sub)
    cli_torch.add_parser(sub)  # crpsgd digits-cifar10: the torch problem's stand-in data
    return parser


def _add_run_flags(run: argparse.ArgumentParser) -> None:
    """The flags of ``crpsgd run``, in one argument group per owner: the common ones, then
    those of each problem, algorithm and schedule
    (:func:`crpsgd.registry.param_table.param_groups`)."""
    from crpsgd.registry.param_table import param_groups

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
            if allowed := describe(p.check):
                extra += f" ({allowed})"
            default = f" [default: {p.default}]" if p.default is not None else ""
            group.add_argument(
                p.flag, dest=p.name, metavar=p.name.upper(), help=f"{p.help}{extra}{default}"
            )


def _rank() -> int:
    """This process's rank, without initialising MPI if nothing did yet (under ``torchrun``,
    whose processes each see an MPI of one rank, its ``RANK``)."""
    if "mpi4py.MPI" in sys.modules:
        world = sys.modules["mpi4py.MPI"].COMM_WORLD
        if world.Get_size() > 1 or "TORCHELASTIC_RUN_ID" not in os.environ:
            return world.Get_rank()
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID", "RANK"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``crpsgd`` command; returns the exit status.

    ``crpsgd run`` as a command (``argv`` None) with a thread of the user's code still alive
    does not return: it ends the process with :func:`_leave_run`, so that the thread cannot
    keep the rank alive. Otherwise the process ends as usual: an immediate exit with a
    non-zero status can reach MPICH's launcher before the other ranks' own exits, which it
    then kills (status 9 for what was exit status 2 on every rank)."""
    code = _main(argv)
    if argv is None and sys.argv[1:2] == ["run"] and _foreign_threads_alive():
        _leave_run(code)
    return code


def _foreign_threads_alive() -> bool:
    """Whether a thread that is neither the main thread nor a daemon is still running (one
    that the user's code started and did not end: the interpreter would wait for it)."""
    main = threading.main_thread()
    return any(t.is_alive() and not t.daemon and t is not main for t in threading.enumerate())


def _main(argv: list[str] | None) -> int:
    previous = None
    try:
        if (sys.argv[1:] if argv is None else argv)[:1] == ["run"]:
            # before the parser: building the run's flags imports the parts, and with them
            # mpi4py (MPI_Init), which must start under the signal handlers and the guard
            previous = _start_run()
        args = build_parser().parse_args(argv)
        if args.command == "run":
            _run(args)
        elif args.command == "project":
            project(args)
        elif args.command == cli_torch.COMMAND:
            cli_torch.main(args)
        else:
            TOOLS[args.command](args)
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
    except PeerLost:  # the rank that ended first printed the one message
        return EXIT_FAILURE
    except Exception as exc:  # one message naming the rank, then the whole job ends
        return _fail_alone(describe_failure(exc), EXIT_FAILURE)
    finally:
        if previous is not None and argv is not None:  # a caller in Python: its own handlers
            from crpsgd.comm import lifecycle

            lifecycle.restore_signal_handlers(previous)


def _with_resume_hint(exc: AllRanksError) -> str:
    """A stopped run's message ends with the exact command that resumes it (its launcher and
    rank count included)."""
    if not isinstance(exc, Preempted):
        return str(exc)
    from crpsgd.session.launch import resume_command

    size = sys.modules["mpi4py.MPI"].COMM_WORLD.Get_size() if "mpi4py.MPI" in sys.modules else 1
    return (
        f"stopped on request after round {exc.rounds}; checkpoint written to {exc.path}; "
        f"continue with: {resume_command(exc.path, size)}"
    )


def _fail_alone(what: str, code: int) -> int:
    """This rank failed on its own (the others may wait in a collective): print one
    message naming it, then :func:`crpsgd.comm.failures.end_job_for` (rank 0 records it in
    the log, the whole job ends). A message that cannot be printed does not stop the abort."""
    message = f"rank {_rank()}: {what}"
    try:
        print(f"crpsgd: {message}", file=sys.stderr, flush=True)
        if os.environ.get("CRPSGD_TRACEBACK"):
            traceback.print_exc()
    except BaseException:  # a second failure on the way out; the abort still happens
        pass
    if "mpi4py.MPI" in sys.modules:
        from crpsgd.comm.failures import end_job_for

        end_job_for(message, code)
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


def _leave_run(code: int) -> None:
    """The last act of ``crpsgd run``: flush the standard streams, finalise MPI (every rank
    is here, the log is closed) and end the process with ``code`` at once. A non-daemon
    thread of the user's code (a ``--model`` build that started one) would otherwise keep
    the rank alive after the run, ignoring SIGTERM."""
    if "mpi4py.MPI" in sys.modules:
        mpi = sys.modules["mpi4py.MPI"]
        try:
            if mpi.Is_initialized() and not mpi.Is_finalized():
                mpi.Finalize()
        except BaseException:  # the status is decided; a failing finalisation cannot change it
            pass
    _exit_now(code)


def _start_run() -> dict:
    """``crpsgd run``'s start: signal handlers first, then MPI (guarded: a rank whose MPI
    never starts is ended); returns the handlers replaced (see :func:`main`)."""
    from crpsgd.comm import lifecycle
    from crpsgd.session.launch import throttle_if_oversubscribed

    previous = lifecycle.install_signal_handlers()
    throttle_if_oversubscribed()  # before MPI starts: MPICH reads it in MPI_Init
    _testing.start_hook("before-mpi", _rank())
    lifecycle.guarded_mpi_start(_rank())
    lifecycle.install_signal_handlers()  # again: MPI_Init may take some (UCX: SIGHUP)
    return previous


def _run(args: argparse.Namespace) -> None:
    """The run, after :func:`_start_run`; numpy's floating-point warnings are off
    (non-finite values are checked and reported once, as divergence)."""

    _testing.cap_budget(args)
    _testing.start_hook("setup", _rank())
    import numpy as np

    from crpsgd.session.run import run_from_cli

    with np.errstate(all="ignore"):
        cli = {k: v for k, v in vars(args).items() if k != "command"}
        run_from_cli(cli, command_line=True)
