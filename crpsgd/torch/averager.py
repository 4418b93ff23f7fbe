"""The round's one Allreduce for a user's own loop: average the gradient over the ranks.

:class:`GradientAverager` makes the model's parameters and gradients views into one flat
float32 buffer each (:class:`~crpsgd.torchprob.flat.FlatModule`, as ``train()`` does). Its
:meth:`~GradientAverager.average`, called once per batch between ``loss.backward()`` and
``optimizer.step()`` (where Horovod's ``synchronize()`` or PyTorch's
``average_parameters()`` go), is the round of ``train()``::

    buf = [g_i | s_i]                      # this rank's minibatch gradient, then the slots
    buf <- (1/N) sum_ranks buf             # ONE Allreduce (Communicator.allreduce_mean_)
    schedule.observe(t, (g, s))            # g = (1/N) sum_i g_i, s the averaged slots
    .grad <- g                             # every rank holds the same averaged gradient

``s_i`` are the schedule's statistics slots (:meth:`~crpsgd.schedules.schedule.Schedule.
fill_slots`), e.g. ``||g_i||^2`` for the noise estimate across workers (``N >= 2``), from
which ``adaptive`` decides ``B_{t+1}`` and every schedule's noise columns come. The buffer,
its layout and the reduction are those of ``train()``'s round, so the averaged gradient is
the same bit for bit. A non-finite average raises
:class:`~crpsgd.errors.DivergenceError` on every rank. Used as a context manager around the
loop (``with GradientAverager(model, sampler) as averager:``), a failure of one rank alone
ends the whole job with one message instead of leaving the others waiting
(:mod:`crpsgd.torch.alone`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from crpsgd.errors import UsageError
from crpsgd.schedules.observed import noise_columns
from crpsgd.schedules.schedule import LocalStats, RoundStats
from crpsgd.torch.alone import end_job_if_alone
from crpsgd.torch.sampler import GrowingBatchSampler, as_communicator
from crpsgd.torchprob.flat import FlatModule


class GradientAverager:
    """Averages ``model``'s gradients over the ranks once per round of ``sampler``.

    ``model``: the ``nn.Module`` being trained (converted to float32 in place, its
    parameters kept where they are: CPU or one GPU); ``sampler``: the
    :class:`~crpsgd.torch.sampler.GrowingBatchSampler` that draws the rounds (the round
    index ``t``, its batch ``B_t`` and the schedule come from it); ``comm``: as the
    sampler's (default: the sampler's own communicator). Collective: build it on every rank.
    Bad input raises :class:`~crpsgd.errors.UsageError` naming the argument.
    """

    def __init__(self, model: Any, sampler: Any, comm: Any = None) -> None:
        if not isinstance(model, nn.Module):
            raise UsageError(f"model={type(model).__name__}: not a torch.nn.Module")
        params = list(model.parameters())
        if not params:
            raise UsageError(f"model={type(model).__name__}: the model has no parameters")
        if not isinstance(sampler, GrowingBatchSampler):
            raise UsageError(
                f"sampler={type(sampler).__name__}: expected the GrowingBatchSampler of the "
                "loop (it knows the round and its batch)"
            )
        self.comm = sampler.comm if comm is None else as_communicator(comm)
        if self.comm.size != sampler.size:
            raise UsageError(
                f"comm: {self.comm.size} ranks, the sampler's {sampler.size}: pass the same one"
            )
        self.sampler = sampler
        self.schedule = sampler.schedule
        self.flat = FlatModule(model, str(params[0].device))
        self.model = model
        self.dim = self.flat.dim
        self.slots = int(self.schedule.extra_slots)
        self.buffer = np.empty(self.dim + self.slots, dtype=np.float32)  # [g_i | slots]
        self.grad = self.buffer[: self.dim]
        self.extra = self.buffer[self.dim :]
        sampler.averager_attached = True

    def average(self) -> None:
        """After ``loss.backward()`` on this rank's batch: ``.grad`` of every parameter
        becomes the gradient averaged over the ranks, by one Allreduce that also carries
        the schedule's statistics, which the schedule then sees. Once per round."""
        t, batch = self.sampler.current_round()
        flat, grad = self.flat, self.grad
        flat.gather_grads()
        torch.from_numpy(grad).copy_(flat.grads)
        if self.slots:
            self.schedule.fill_slots(self.extra, LocalStats(t, batch, grad))
        self.comm.allreduce_mean_(self.buffer)
        self.schedule.observe(t, RoundStats(t, batch, grad, self.extra, self.comm.size))
        flat.grads.copy_(torch.from_numpy(grad))
        self.sampler.round_averaged(t)

    def __enter__(self) -> GradientAverager:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        """An exception of this rank alone ends the job (one line, exit status 1)."""
        if exc is not None:
            end_job_if_alone(exc, self.comm.rank, self.comm.size)

    def statistics(self) -> dict[str, float]:
        """The noise estimate after the last round, as ``train()`` logs it: ``noise_var``
        (``tr(Sigma)``), ``grad_sq_est`` (``||grad f||^2``) and ``noise_scale`` (their
        ratio, in samples); NaN before the first round and on one rank."""
        return noise_columns(self.schedule)
