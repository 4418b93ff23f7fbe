"""``--backend torch``: the same communicator over ``torch.distributed`` (the only module,
beside :mod:`crpsgd.comm.communicator`, that makes collectives).

:class:`TorchCommunicator` has the interface of
:class:`~crpsgd.comm.communicator.Communicator` and the same two sets of counters; a round is
still ONE all-reduce (sum) of the flat buffer with its control slot appended, divided by
``N`` afterwards exactly as the MPI round does, so a run on 2 ranks gives the same iterates
bit for bit (a sum of two floats is exact up to the one rounding, and commutative).

Process group: ``gloo`` on CPU; ``nccl`` with ``device="cuda"``, where the round's buffer
is copied into a device buffer of the same dtype, reduced there and copied back, and the
control collectives (set-up, evaluation, checkpoints) go through a second, ``gloo`` group.

Start: under ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT`` set,
MPI alone in its process) the group starts from those variables (``env://``); under
``mpiexec`` (or without a launcher) rank 0 takes a free TCP port of its host and broadcasts
``host:port`` over MPI, and every rank joins a TCP store there (``MASTER_ADDR`` overrides
rank 0's host name, e.g. to pick a network).

Failures: under ``mpiexec`` a rank that fails alone reports to rank 0 and aborts the job over
MPI as with ``--backend mpi`` (:mod:`crpsgd.comm.failures`); under ``torchrun`` it prints its
one message and exits non-zero, and ``torchrun`` stops the other ranks.
"""

from __future__ import annotations

import atexit
import os
import socket
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from mpi4py import MPI

from crpsgd import _testing
from crpsgd.comm.communicator import Communicator, started_by_torchrun
from crpsgd.errors import PeerLost, UsageError


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


class TorchCommunicator(Communicator):
    """:class:`Communicator` whose collectives go through ``torch.distributed``.

    ``mpi_comm`` (``COMM_WORLD`` unless passed) carries the rendezvous address under
    ``mpiexec`` and the failure notices (:mod:`crpsgd.comm.failures`); ``device`` is
    ``"cpu"`` (gloo) or ``"cuda"`` (NCCL for the rounds).
    """

    def __init__(self, mpi_comm: MPI.Comm | None = None, device: str = "cpu") -> None:
        super().__init__(mpi_comm)
        if not dist.is_initialized():
            _init_process_group(self.comm, device)
            atexit.register(_destroy_process_group)  # before MPI_Finalize (registered earlier)
        self.rank = dist.get_rank()
        self.size = dist.get_world_size()
        # the test hooks name torch's rank (under torchrun every process is MPI's rank 0)
        self._fault = _testing.injected_fault("CRPSGD_TEST_FAIL_AT", self.rank)
        self._stop_at = _testing.injected_fault("CRPSGD_TEST_STOP_AT", self.rank)
        self._size_as = np.float64(self.size)
        self.dist_backend = dist.get_backend()
        self.backend = f"torch.distributed ({self.dist_backend})"
        self._cpu_group = dist.new_group(backend="gloo") if self.dist_backend != "gloo" else None
        self._device = (
            torch.device("cuda", torch.cuda.current_device()) if device == "cuda" else None
        )
        self._device_work: torch.Tensor | None = None
        self._work_t = torch.empty(0)

    def allreduce_mean_(self, buf: np.ndarray) -> np.ndarray:
        """One communication round: ``buf <- (1/N) sum_ranks buf``, in place, as
        :meth:`Communicator.allreduce_mean_` (the control slot, the counters, the
        divergence check), through one ``all_reduce`` of the process group."""
        self._begin_round(buf)
        n = buf.size
        if self._work.size != n + 1 or self._work.dtype != buf.dtype:
            self._work = np.empty(n + 1, dtype=buf.dtype)
            self._work_t = torch.from_numpy(self._work)  # shares the memory
            self._size_as = buf.dtype.type(self.size)
            if self._device is not None:
                self._device_work = torch.empty(
                    n + 1, dtype=self._work_t.dtype, device=self._device
                )
        work = self._work
        t0 = MPI.Wtime()
        work[:n] = buf
        work[n] = 1.0 if self.stop_requested else 0.0
        if self._device_work is not None:
            self._device_work.copy_(self._work_t)
            _guarded(dist.all_reduce, self._device_work, op=dist.ReduceOp.SUM)
            self._work_t.copy_(self._device_work)  # synchronous: the division reads it next
        else:
            _guarded(dist.all_reduce, self._work_t, op=dist.ReduceOp.SUM)
        return self._end_round(work, buf, t0)

    def native_handles(self) -> None:
        """None: compiled rounds call MPI, so every round goes through
        :meth:`allreduce_mean_`."""
        return None

    def eval_allreduce_sum_(self, buf: np.ndarray) -> np.ndarray:
        """An evaluation collective (not a round): ``buf <- sum_ranks buf``, in place."""
        self._maybe_fail("eval", self.stats.eval_calls + 1)
        self._counted(buf, dist.ReduceOp.SUM)
        return buf

    def eval_allreduce_max(self, value: float) -> float:
        """An evaluation collective (not a round): the maximum of a scalar over ranks."""
        buf = np.array([value], dtype=np.float64)
        self._counted(buf, dist.ReduceOp.MAX)
        return float(buf[0])

    def same_on_all_ranks(self, value: int, counted: bool = True) -> bool:
        """As :meth:`Communicator.same_on_all_ranks`."""
        buf = np.array([value, -value], dtype=np.int64)
        if counted:
            self._counted(buf, dist.ReduceOp.MIN)
        else:
            self._reduce(buf, dist.ReduceOp.MIN)
        return bool(buf[0] == -buf[1])

    def gather(self, obj: object, root: int = 0) -> list | None:
        """Small Python objects of every rank, in rank order, on ``root`` (checkpoints only)."""
        out: list | None = [None] * self.size if self.rank == root else None
        _guarded(dist.gather_object, obj, out, dst=root, group=self._cpu_group)
        return out

    def barrier(self) -> None:
        _guarded(dist.barrier, group=self._cpu_group)

    def bcast(self, obj: object, root: int = 0) -> object:
        """Broadcast a small Python object (set-up only, never in the loop)."""
        box = [obj]
        _guarded(dist.broadcast_object_list, box, src=root, group=self._cpu_group)
        return box[0]

    def raise_if_any(self, error: BaseException | None) -> None:
        """As :meth:`Communicator.raise_if_any`: every rank leaves with the message of the
        lowest failing rank."""
        flag = np.array([0 if error is None else 1], dtype=np.int32)
        self._reduce(flag, dist.ReduceOp.SUM)
        if flag[0] == 0:
            return
        failures: list[Any] = [None] * self.size
        mine = None if error is None else (type(error), str(error))
        _guarded(dist.all_gather_object, failures, mine, group=self._cpu_group)
        if error is not None:
            raise error
        exc_type, message = next(f for f in failures if f is not None)
        if issubclass(exc_type, UsageError):
            raise UsageError(message)
        raise RuntimeError(message)

    def _reduce(self, buf: np.ndarray, op: Any) -> None:
        _guarded(dist.all_reduce, torch.from_numpy(buf), op=op, group=self._cpu_group)

    def _counted(self, buf: np.ndarray, op: Any) -> None:
        t0 = MPI.Wtime()
        self._reduce(buf, op)
        self.stats.eval_seconds += MPI.Wtime() - t0
        self.stats.eval_calls += 1
        self.stats.eval_bytes += buf.nbytes


#: What gloo's and NCCL's errors say when the other end of a connection went away.
_PEER_GONE = ("closed by peer", "reset by peer", "Broken pipe", "Socket closed", "remote")


def _guarded(collective: Any, *args: Any, **kwargs: Any) -> Any:
    """``collective(*args, **kwargs)``; the error of a peer that ended (its connection
    closed: under ``torchrun`` nothing aborts the job for it) becomes :class:`PeerLost`."""
    try:
        return collective(*args, **kwargs)
    except RuntimeError as exc:  # gloo raises a plain RuntimeError for a closed connection
        if not any(sign in str(exc) for sign in _PEER_GONE):
            raise
        raise PeerLost(
            f"another rank ended during torch.distributed's {collective.__name__} (its "
            "connection closed); its own message says why"
        ) from None


def _init_process_group(mpi_comm: MPI.Comm, device: str) -> None:
    """Join (or form) the job's process group: from ``torchrun``'s variables, else at the
    TCP address rank 0 broadcasts over ``mpi_comm``."""
    backend = "nccl" if device == "cuda" else "gloo"
    if device == "cuda":
        local = os.environ.get("LOCAL_RANK") if started_by_torchrun() else None
        torch.cuda.set_device(int(local) if local is not None else _local_rank(mpi_comm))
    if started_by_torchrun():
        dist.init_process_group(backend, init_method="env://")
        return
    address = None
    if mpi_comm.Get_rank() == 0:
        alone = mpi_comm.Get_size() == 1
        host = os.environ.get("MASTER_ADDR") or ("127.0.0.1" if alone else socket.gethostname())
        address = f"tcp://{host}:{_free_port()}"
    address = mpi_comm.bcast(address, root=0)
    dist.init_process_group(
        backend, init_method=address, rank=mpi_comm.Get_rank(), world_size=mpi_comm.Get_size()
    )


def _destroy_process_group() -> None:
    """Leave the process group at exit (NCCL warns on every rank otherwise); an error here
    (a peer already gone) changes nothing about how the run ended."""
    try:
        if dist.is_initialized():
            dist.destroy_process_group()
    except Exception:
        pass


def _local_rank(mpi_comm: MPI.Comm) -> int:
    """This rank's index among the ranks of its node (which GPU it takes)."""
    node = mpi_comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return node.Get_rank() % max(1, torch.cuda.device_count())
    finally:
        node.Free()
