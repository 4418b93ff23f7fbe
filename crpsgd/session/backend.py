"""``--backend``: which communicator carries the run's collectives.

``mpi`` (the default) is :class:`~crpsgd.comm.communicator.Communicator`; ``torch`` is
:class:`~crpsgd.comm.torch_dist.TorchCommunicator` (``torch.distributed``), made from the MPI
one under ``mpiexec`` (the rendezvous address travels over MPI) or first thing under
``torchrun``, whose processes each see an MPI of one rank.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from crpsgd.comm.communicator import Communicator, started_by_torchrun
from crpsgd.errors import UsageError

NO_TORCH = (
    "--backend=torch: PyTorch is not installed (pip install crpsgd[torch]); use --backend mpi"
)


def first_communicator(cli_values: dict[str, Any]) -> Communicator:
    """The communicator a run starts with: the torch one under ``torchrun`` (which has no
    other way to reach the other ranks), else MPI's ``COMM_WORLD``."""
    if not started_by_torchrun() or int(os.environ["WORLD_SIZE"]) <= 1:
        return Communicator()
    if importlib.util.find_spec("torch") is None:
        raise UsageError(NO_TORCH)
    from crpsgd.comm.torch_dist import TorchCommunicator

    return TorchCommunicator(device=_device(cli_values.get("device")))


def communicator_for(cfg: dict[str, Any], comm: Communicator) -> Communicator:
    """The communicator of ``cfg["backend"]`` (one collective set-up step on every rank of
    ``comm``): ``comm`` itself when it is already that one.

    Raises the one :class:`UsageError` of ``--backend torch`` without PyTorch, and of
    ``--backend mpi`` in a job that ``torchrun`` started."""
    if cfg["backend"] != "torch":
        if comm.backend != "mpi":
            raise UsageError(
                f"--backend={cfg['backend']}: this job was started by torchrun, whose ranks "
                "reach each other only through torch.distributed: use --backend torch"
            )
        return comm
    if comm.backend != "mpi":
        return comm
    if importlib.util.find_spec("torch") is None:
        raise UsageError(NO_TORCH)
    from crpsgd.comm.torch_dist import TorchCommunicator

    return TorchCommunicator(comm.comm, device=_device(cfg.get("device")))


def _device(device: str | None) -> str:
    """``cuda`` (an NCCL group) only where the torch problem runs on an available GPU."""
    if device != "cuda":
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
