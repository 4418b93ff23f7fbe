"""``crpsgd.torch.train``: a user's model, data, loss and optimizer under CR-PSGD.

Run the same script on every rank (``mpiexec -n 2 python train.py``); ``train()`` is
collective. It holds the objects for the run (:mod:`crpsgd.data.in_process`) and runs exactly
``crpsgd run --problem torch`` with them: the same checks, sampling streams, rounds, log and
evaluation. Afterwards rank 0 writes the trained ``state_dict`` (BatchNorm buffers included)
beside the log as ``<out stem>.pt``, as every torch run does
(:mod:`crpsgd.torchprob.state_file`).

Errors: what every rank agrees on (bad input before the rounds, a divergence, a stop
request) is raised on every rank, for the caller to handle; a failure of one rank alone
during the rounds (the user's loss failing on one rank's batch) ends the whole job as
``crpsgd run`` does: one message naming the rank, exit status 1, no rank left waiting.
"""

from __future__ import annotations

import math
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from crpsgd.data.in_process import holding
from crpsgd.errors import AllRanksError, UsageError, describe_failure
from crpsgd.torch.data import ObjectData
from crpsgd.torch.keywords import check_keywords
from crpsgd.torch.model import ModelRecord

EXIT_FAILURE = 1  # as crpsgd run after the rounds began


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns: the trained ``model`` (on every rank), the figures of the
    final evaluation (``objective``: mean training loss on the evaluated subset;
    ``test_accuracy`` NaN for float targets or without test data; ``test_loss`` NaN without
    test data), ``rounds`` (communication rounds), ``sfo_per_worker`` (stochastic gradients
    of one sample per rank), the log ``out`` and the ``state_dict`` file ``state_path``, and
    ``run``, the run's :class:`~crpsgd.algorithms.parallel_sgd.RunResult`."""

    model: nn.Module
    objective: float
    test_accuracy: float
    test_loss: float
    rounds: int
    sfo_per_worker: int
    out: Path
    state_path: Path
    run: Any


def _run(values: dict[str, Any]) -> Any:
    """``crpsgd run`` with ``values`` on every rank; a failure of this rank alone aborts
    the job (the other ranks would wait for it in the next collective)."""
    from crpsgd.comm.failures import end_job_for, world_size
    from crpsgd.session.run import run_from_cli

    try:
        return run_from_cli(values)
    except (UsageError, AllRanksError):
        raise  # raised on every rank alike
    except Exception as exc:
        if world_size() > 1:
            message = f"rank {_rank()}: {describe_failure(exc)}"
            print(f"crpsgd: {message}", file=sys.stderr, flush=True)
            end_job_for(message, EXIT_FAILURE)
        raise


def _rank() -> int:
    return sys.modules["mpi4py.MPI"].COMM_WORLD.Get_rank()


def train(
    model: Any,
    train_data: Any,
    *,
    test_data: Any = None,
    loss: Any = None,
    optimizer: Any = None,
    **run_parameters: Any,
) -> TrainResult:
    """Train ``model`` on ``train_data`` with CR-PSGD (or ``algo=...``) on every rank.

    ``loss(output, target) -> scalar`` (default: cross-entropy for integer targets, mean
    squared error for float ones); ``optimizer``: ``params -> torch.optim.Optimizer``, stepped
    with the averaged gradient on every rank (default: the paper's plain step with
    ``gamma``). ``run_parameters``: ``crpsgd run``'s parameters by name; an unknown one is a
    :class:`~crpsgd.errors.UsageError` naming it. Bad input raises ``UsageError`` on every
    rank before any round; a failure of the user's code during the rounds is one message
    naming the rank and the callable, and ends the job with exit status 1 (on one rank
    alone: a :class:`~crpsgd.errors.UserCodeError`). Rank 0 writes ``<out stem>.pt`` after
    the run, before it returns.
    """
    check_keywords(run_parameters, optimizer is not None)
    record = ModelRecord(model, loss, optimizer)
    datasets = {"data": ObjectData(train_data, "train_data")}
    if test_data is not None:
        datasets["test_data"] = ObjectData(test_data, "test_data")
    values: dict[str, Any] = {"problem": "torch"}
    if optimizer is not None:
        values["gamma"] = "1"  # the optimizer's lr, scaled by the step-size schedule
    values.update({k: v if v is None else str(v) for k, v in run_parameters.items()})
    with ExitStack() as held:
        values["model"] = held.enter_context(holding(record, record.origin))
        for key, data in datasets.items():
            values[key] = held.enter_context(holding(data, data.source))
        result = _run(values)
    final = result.final
    return TrainResult(
        model=record.problem.model,
        objective=float(final.objective),
        test_accuracy=float(final.test_accuracy),
        test_loss=float(getattr(final, "test_loss", math.nan)),
        rounds=int(result.rounds),
        sfo_per_worker=int(result.sfo_per_worker),
        out=record.out,
        state_path=record.state_path,
        run=result,
    )
