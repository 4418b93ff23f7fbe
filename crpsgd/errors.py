"""Exceptions that the command line turns into one message and exit status 2."""


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


class DivergenceError(RuntimeError):
    """A non-finite gradient, iterate or objective, seen by every rank at the same point.

    ``round`` is the communication round (0: before the first); the CLI adds the last finite
    objective and a hint about the step size, prints one message and exits with status 3.
    """

    def __init__(self, round: int, what: str) -> None:
        self.round = round
        self.what = what
        super().__init__(f"diverged at round {round}: {what}")
