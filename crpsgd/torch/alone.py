"""A failure of one rank alone in a user's own loop ends the whole job, as in ``train()``.

In a loop of one's own, an exception on one rank (the loss failing on that rank's batch)
leaves the other ranks waiting in the next round's Allreduce for ever. Inside ``with
GradientAverager(...) as averager:`` such an exception instead prints one line on the
failing rank, ``crpsgd: rank R: FILE:LINE: Type: message`` (the innermost line of the
user's code, outside PyTorch and crpsgd), and ends every rank with exit status 1
(:func:`crpsgd.comm.failures.end_job_for`). What every rank meets at the same point (a
:class:`~crpsgd.errors.AllRanksError`, e.g. a non-finite average) is raised as it is, on
every rank; so is everything on one rank.
"""

from __future__ import annotations

import os
import sys
import traceback

import torch

import crpsgd
from crpsgd.comm.failures import end_job_for
from crpsgd.errors import AllRanksError, describe_failure

EXIT_FAILURE = 1  # as crpsgd run and train() once the rounds began
_LIBRARIES = tuple(os.path.dirname(m.__file__) + os.sep for m in (torch, crpsgd))


def where(exc: BaseException) -> str:
    """``FILE:LINE: `` of the innermost frame of ``exc``'s traceback outside PyTorch and
    crpsgd (the user's line), or the empty string if there is none."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_LIBRARIES)
    ]
    return f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""


def end_job_if_alone(exc: BaseException, rank: int, size: int) -> None:
    """``exc`` left the user's loop on rank ``rank`` of ``size``: unless every rank meets it
    alike (or there is one rank), print its one line and end the job (never returns)."""
    if size < 2 or isinstance(exc, AllRanksError):
        return
    if not isinstance(exc, Exception | KeyboardInterrupt):
        return  # SystemExit, GeneratorExit: the user's own way out
    message = f"rank {rank}: {where(exc)}{describe_failure(exc)}"
    print(f"crpsgd: {message}", file=sys.stderr, flush=True)
    end_job_for(message, EXIT_FAILURE)
    os._exit(EXIT_FAILURE)  # MPICH's abort may return before the launcher ends this rank
