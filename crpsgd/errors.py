"""Exceptions that the command line turns into one message and exit status 2."""

import shlex


class UsageError(ValueError):
    """Bad input from the user: an argument, a configuration value or a file.

    The message names the argument (``--rho=0.5: ...``) or the file and line
    (``data.svm:17: ...``); the CLI prints it once, from rank 0, and exits with 2.
    """


class DataFormatError(UsageError):
    """A data file that cannot be read: the message names the file and the line."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class AllRanksError(RuntimeError):
    """An outcome every rank meets at the same point of the run (after the same collective):
    rank 0 prints one message, every rank exits with :attr:`exit_code`, nobody aborts."""

    exit_code = 1


class DivergenceError(AllRanksError):
    """A non-finite gradient, iterate or objective, seen by every rank at the same point.

    ``round`` is the communication round (0: before the first); the CLI adds the last finite
    objective and a hint about the step size, prints one message and exits with status 3.
    """

    exit_code = 3

    def __init__(self, round: int, what: str) -> None:
        self.round = round
        self.what = what
        super().__init__(f"diverged at round {round}: {what}")


class ReplicaMismatch(AllRanksError):
    """The ranks' copies of the iterate differ (``--check-sync``): exit status 4."""

    exit_code = 4


class Preempted(AllRanksError):
    """The run stopped on request (SIGTERM/SIGUSR1) after round ``rounds`` and wrote a
    checkpoint at ``path``: exit status 75 (EX_TEMPFAIL: run again with ``--resume``)."""

    exit_code = 75

    def __init__(self, rounds: int, path: object) -> None:
        self.rounds = rounds
        self.path = path
        super().__init__(
            f"stopped on request after round {rounds}; checkpoint written to {path}; "
            f"continue with: crpsgd run --resume {shlex.quote(str(path))}"
        )


class OutputError(RuntimeError):
    """Writing an output of the run failed during the run (full disk, quota, I/O error, a
    directory removed): the message names the argument and the file (``--out=run.h5:
    cannot write the run log: [Errno 28] No space left on device``). The failing rank
    reports it and the whole job is aborted (exit status 1)."""


class UserCodeError(RuntimeError):
    """The user's code (a ``--model`` build, forward pass, loss) failed during the rounds:
    the message names the argument and the callable (``--model=m:build: the forward pass
    failed: KeyError: 'x'``). The failing rank reports it and the whole job is aborted
    (exit status 1); before the rounds the same failure is a :class:`UsageError`."""


class PeerLost(RuntimeError):
    """Another rank ended while this one waited in a collective of ``--backend torch`` under
    ``torchrun`` (no MPI to abort the job): that rank printed its own message, and this one
    leaves quietly with exit status 1 (rank 0 records the loss in the log)."""


class Terminated(BaseException):  # noqa: N818  (like KeyboardInterrupt, not an Exception)
    """A signal that would have ended this process (``SIGHUP``, ``SIGQUIT``, ...): the rank
    leaves by the failure path instead, so that the whole job is aborted (exit status
    ``128 + signal``) and rank 0 records the signal in the log."""

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = int(signum)
        super().__init__(f"terminated by {signal.Signals(self.signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def describe_failure(exc: BaseException) -> str:
    """How a rank's own failure is told, on its one line and in the log's status:
    ``interrupted (SIGINT)``, the message of a :class:`Terminated`, :class:`OutputError`,
    :class:`UserCodeError` or :class:`PeerLost` (which names its signal, file, callable or
    collective), else ``<Type>: <message>``."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (SIGINT)"
    if isinstance(exc, (Terminated, OutputError, UserCodeError, PeerLost)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
