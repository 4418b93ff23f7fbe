"""The growing batches of CR-PSGD as a ``batch_sampler`` for a user's own ``DataLoader``.

:class:`GrowingBatchSampler` yields, on rank ``r`` of ``N``, one list of dataset indices
per communication round, exactly the rows ``crpsgd.torch.train()`` (and ``crpsgd run
--problem torch``) draws in that round with the same settings:

* **shard**: rank ``r`` owns the contiguous items ``[lo, hi) = shard_bounds(n, r, N)``
  (:func:`crpsgd.data.shard.shard_bounds`);
* **stream**: round ``t`` draws ``B_t`` local rows i.i.d. uniformly with replacement from
  ``[0, hi - lo)`` with the rank's stream ``worker_rng(seed, r)``, sorted
  (:func:`crpsgd.data.rng.sample_indices`, the draws of the torch problem's
  ``sample_batch``); the indices yielded are ``lo +`` those rows;
* **batches**: ``B_t`` from the registered schedule (``exponential``:
  ``floor(rho^(t-1) B_1)``; ``constant``: ``B``; ``adaptive``: the norm test, decided from
  round ``t - 1``'s statistics, which the :class:`~crpsgd.torch.averager.GradientAverager`
  feeds back);
* **budget**: Algorithm 1's rule, round ``t`` runs only if ``B_1 + ... + B_t <= T`` (SFO per
  rank), unless the schedule fills the budget (``adaptive``: the last round takes all that
  is left, :func:`crpsgd.schedules.budget_fill.budget_round`).

One pass over the sampler is the whole run: it continues from where it is, and once the
budget is spent it yields nothing more. :meth:`GrowingBatchSampler.state_dict` after a
round and :meth:`GrowingBatchSampler.load_state_dict` on a sampler built with the same
arguments continue exactly (the same remaining index lists, the same batches).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from crpsgd.comm.communicator import Communicator
from crpsgd.data.rng import sample_indices, worker_rng
from crpsgd.data.shard import check_ranks, shard_bounds
from crpsgd.errors import UsageError
from crpsgd.schedules.budget_fill import budget_round
from crpsgd.schedules.observed import with_noise_estimate
from crpsgd.schedules.schedule import rounds_within_budget
from crpsgd.torch.sampler_args import WHO, build_for_ranks, schedule_config

STATE_VERSION = 1


def as_communicator(comm: Any) -> Communicator:
    """``comm`` as a :class:`~crpsgd.comm.communicator.Communicator` (None: ``COMM_WORLD``;
    an mpi4py communicator is wrapped)."""
    if isinstance(comm, Communicator):
        return comm
    if comm is not None and not hasattr(comm, "Get_rank"):
        raise UsageError(
            f"comm={type(comm).__name__}: not an mpi4py communicator nor a crpsgd Communicator"
        )
    return Communicator(comm)


class GrowingBatchSampler:
    """Per-rank growing batches of dataset indices for ``DataLoader(batch_sampler=...)``.

    ``data``: the dataset (anything with ``len()``) or its length ``n``. Keywords as ``crpsgd
    run`` names them: ``T`` (SFO budget per rank), ``seed``, ``schedule`` (``exponential``,
    ``constant``, ``adaptive`` or a plugin's) and that schedule's own parameters (``b1``,
    ``rho``, ``batch``, ``eta``, ...). ``comm``: an mpi4py communicator or a
    :class:`~crpsgd.comm.communicator.Communicator` (default ``COMM_WORLD``). Collective:
    every rank builds it with the same arguments. Bad input raises
    :class:`~crpsgd.errors.UsageError` naming the keyword.

    Attributes: ``rank``, ``size``, ``shard`` (``(lo, hi)``), ``schedule`` (the schedule
    object, with the noise estimate for ``N >= 2``), ``rounds`` (rounds yielded so far),
    ``sfo`` (samples per rank drawn so far), ``batch`` (the last round's ``B_t``).
    """

    def __init__(
        self,
        data: Any,
        *,
        T: int,
        seed: int = 0,
        schedule: str = "exponential",
        comm: Any = None,
        **schedule_params: Any,
    ) -> None:
        n = _length(data)
        cfg = schedule_config(schedule, {"T": T, "seed": seed, **schedule_params})
        self.comm = as_communicator(comm)
        self.rank, self.size = self.comm.rank, self.comm.size
        check_ranks(n, self.size, f"data ({WHO})")
        self.n = n
        self.config = cfg
        self.budget = int(cfg["T"])
        self.shard = shard_bounds(n, self.rank, self.size)
        raw = build_for_ranks(cfg, self.size)
        #: whether B_(t+1) is known only after round t was averaged (it observes rounds)
        self.adaptive = bool(getattr(raw, "fills_budget", False)) or hasattr(raw, "last")
        self._raw = raw
        self.schedule = with_noise_estimate(raw, self.size, None)
        self.rng = worker_rng(int(cfg["seed"]), self.rank)
        self.rounds = 0  # rounds yielded
        self.sfo = 0  # SFO per rank of those rounds
        self.averaged = 0  # rounds whose statistics the schedule has seen
        self.batch = 0
        self.filled = False  # whether the last round took all of the budget left
        self.averager_attached = False

    # ------------------------------------------------------------------ iteration
    def __iter__(self) -> Iterator[list[int]]:
        """The remaining rounds' index lists (dataset indices of this rank's shard)."""
        while (idx := self.next_round()) is not None:
            yield idx

    def next_round(self) -> list[int] | None:
        """Plan and draw the next round (as iteration does); None once the budget is spent."""
        t = self.rounds + 1
        if self.adaptive and self.averaged < self.rounds:
            raise UsageError(
                f"{WHO}: round {t} asked for before round {self.rounds} was averaged: with "
                f"schedule={self.config['schedule']!r} the next batch follows from the "
                "averaged round (call GradientAverager.average() every round, and use "
                "DataLoader(num_workers=0), which asks for one batch at a time)"
            )
        b = self.schedule.batch(t)
        if b < 1:
            raise ValueError(f"schedule gave batch size {b} at round {t}")
        fills = getattr(self.schedule, "fills_budget", False)
        b, filled = budget_round(b, self.budget - self.sfo, fills)
        if b is None:
            return None
        if filled:
            self.schedule.fill_last(t, b)
        lo, hi = self.shard
        rows = sample_indices(self.rng, hi - lo, b)
        self.rounds, self.sfo, self.batch, self.filled = t, self.sfo + b, b, filled
        return (rows + lo).tolist()

    def __len__(self) -> int:
        """Rounds left, where the batches do not depend on the rounds (TypeError else)."""
        if self.adaptive:
            raise TypeError(
                f"len({WHO}) is unknown with schedule={self.config['schedule']!r}: each batch "
                "follows from the round before"
            )
        return sum(
            1 for _ in rounds_within_budget(self._raw, self.budget, self.rounds + 1, self.sfo)
        )

    # ------------------------------------------------------------------ the averager's side
    def current_round(self) -> tuple[int, int]:
        """``(t, B_t)`` of the round yielded last, which is not averaged yet (UsageError
        otherwise: before the first round, or a second average of one round)."""
        if self.rounds == 0 or self.averaged == self.rounds:
            what = (
                "no round was drawn yet"
                if self.rounds == 0
                else (f"round {self.rounds} was averaged already")
            )
            raise UsageError(
                f"GradientAverager.average(): {what}; call it once per batch of the "
                f"{WHO}, after loss.backward()"
            )
        return self.rounds, self.batch

    def round_averaged(self, t: int) -> None:
        self.averaged = t

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        """Everything a sampler built with the same arguments needs to continue exactly: the
        counters, the stream's state and the schedule's (its noise estimate included), as
        Python numbers, strings and tensors (``torch.load`` reads it with its default
        ``weights_only=True``). Take it between rounds (after ``average()``, when an
        averager is attached)."""
        if self.averager_attached and self.averaged < self.rounds:
            raise UsageError(
                f"{WHO}.state_dict(): round {self.rounds} is not averaged yet; take the "
                "state after GradientAverager.average()"
            )
        arrays = getattr(self.schedule, "checkpoint_arrays", dict)()
        return {
            "version": STATE_VERSION,
            "config": dict(self.config),
            "n": self.n,
            "rank": self.rank,
            "size": self.size,
            "rounds": self.rounds,
            "sfo": self.sfo,
            "batch": self.batch,
            "filled": self.filled,
            "rng": copy.deepcopy(self.rng.bit_generator.state),
            "schedule": self.schedule.state(),
            "schedule_arrays": {k: torch.tensor(v) for k, v in arrays.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (UsageError if it was taken with other
        arguments, another rank or another rank count)."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise UsageError(f"{WHO}.load_state_dict: not a state of this sampler")
        mine = {"config": self.config, "n": self.n, "rank": self.rank, "size": self.size}
        for key, value in mine.items():
            if state.get(key) != value:
                raise UsageError(
                    f"{WHO}.load_state_dict: the state's {key} is {state.get(key)!r}, this "
                    f"sampler's {value!r}: build it with the arguments of the saved one"
                )
        self.schedule.load_state(state["schedule"])
        if state["schedule_arrays"]:
            arrays = {k: v.numpy() for k, v in state["schedule_arrays"].items()}
            self.schedule.load_checkpoint_arrays(arrays)
        self.rng.bit_generator.state = copy.deepcopy(state["rng"])
        self.rounds = self.averaged = int(state["rounds"])
        self.sfo, self.batch = int(state["sfo"]), int(state["batch"])
        self.filled = bool(state["filled"])


def _length(data: Any) -> int:
    """``data`` as a number of items: an int itself, or ``len(data)``."""
    if isinstance(data, (int, np.integer)) and not isinstance(data, bool):
        n = int(data)
    elif hasattr(data, "__len__"):
        n = len(data)
    else:
        raise UsageError(
            f"data={type(data).__name__} ({WHO}): expected a dataset with len() or its length"
        )
    if n < 1:
        raise UsageError(f"data ({WHO}): {n} items; needs at least 1")
    return n
