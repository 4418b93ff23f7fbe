"""The test suite's hooks, all in one place: environment variables that the tests set to make
a rank fail, stop, wait or exit at a chosen moment, so that failure handling is tested on any
machine. Unset (as in every real run) they do nothing.

* ``CRPSGD_TEST_FAIL_AT=<rank>:<round|eval>:<k>``: rank ``<rank>`` raises ``RuntimeError``
  just before its ``k``-th round (or evaluation collective);
* ``CRPSGD_TEST_STOP_AT=<rank>:round:<k>``: that rank requests a stop there, as a signal would;
* ``CRPSGD_TEST_ROUND_DELAY=<seconds>``: every rank sleeps that long before each round, so that
  a test which signals a running job does not depend on how fast the machine is (the
  compiled rounds are not used while any of these three is set);
* ``CRPSGD_TEST_EXIT_BEFORE_MPI=<rank>``: that rank exits with status 1 before MPI starts, as
  a rank that failed to start would;
* ``CRPSGD_TEST_SETUP_DELAY=<seconds>``: every rank sleeps that long after MPI started, before
  the run's set-up, so that a test can signal a rank during set-up;
* ``CRPSGD_TEST_MAX_T=<T>``: a new run's ``--T`` is at most ``T`` (the README-commands test).
"""

from __future__ import annotations

import argparse
import os
import time


def injected_fault(variable: str, rank: int) -> tuple[str, int] | None:
    """Parse a ``<rank>:<round|eval>:<k>`` hook variable for this rank."""
    try:
        who, kind, count = os.environ[variable].split(":")
        if kind in ("round", "eval") and int(who) == rank:
            return kind, int(count)
    except (KeyError, ValueError):
        pass
    return None


def injected_delay(variable: str) -> float:
    """A delay in seconds (0 when unset or not a non-negative number)."""
    try:
        seconds = float(os.environ.get(variable, "0"))
    except ValueError:
        return 0.0
    return seconds if seconds > 0 else 0.0


def start_hook(stage: str, rank: int) -> None:
    """``stage`` "before-mpi": ``CRPSGD_TEST_EXIT_BEFORE_MPI``; "setup":
    ``CRPSGD_TEST_SETUP_DELAY``."""
    if stage == "before-mpi" and os.environ.get("CRPSGD_TEST_EXIT_BEFORE_MPI") == str(rank):
        os._exit(1)
    if stage == "setup":
        delay = injected_delay("CRPSGD_TEST_SETUP_DELAY")
        if delay > 0:
            time.sleep(delay)


def cap_budget(args: argparse.Namespace) -> None:
    """``CRPSGD_TEST_MAX_T``: a new run's ``--T`` (given, from ``--config``, or the default) is
    at most ``T``."""
    cap = os.environ.get("CRPSGD_TEST_MAX_T")
    if not cap or getattr(args, "resume", None):
        return
    try:
        given = int(float(args.T)) if args.T is not None else None
    except ValueError:
        return  # left for the configuration check to report
    args.T = str(min(given, int(cap)) if given is not None else int(cap))
