"""The interface between the loops and an objective ``f(x) = (1/n) sum_i F(x; i) + r(x)``.

A :class:`Problem` lives on one rank and sees only that rank's shard of the ``n`` rows.
``F`` is the per-sample data loss, ``r`` a deterministic regulariser; a stochastic gradient
of one sample, ``grad F(x; i) + grad r(x)``, is one SFO call.

Besides the abstract methods, hooks with defaults that the loops call: ``dtype`` of the
iterate and gradient buffers, :meth:`Problem.sample_batch`, :meth:`Problem.apply_step` (the
update after the round's Allreduce), :meth:`Problem.state_arrays` /
:meth:`Problem.load_state_arrays` (per-rank state a checkpoint keeps) and
:meth:`Problem.before_evaluation`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from crpsgd.data.rng import sample_indices


class Problem(ABC):
    """An objective over this rank's shard; ``n_total`` counts the rows of all shards."""

    dim: int
    n_local: int
    n_total: int
    #: False when no bound of ``L`` is known (``local_smoothness`` then returns NaN), so
    #: ``--gamma auto`` and ``--theta auto`` cannot be used.
    smoothness_known: bool = True
    #: dtype of the iterate, the gradient and the round's buffer.
    dtype: Any = np.float64
    #: the argument that built the problem, named by messages about it ("": ``--problem``).
    origin: str = ""
    #: what the problem is beyond its configuration (a torch model's architecture and build
    #: source), recorded in checkpoints and compared at ``--resume``; None: nothing more.
    identity: dict[str, str] | None = None

    @abstractmethod
    def stochastic_grad(self, x: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
        """``out <- (1/|idx|) sum_{i in idx} (grad F(x; i) + grad r(x))``: ``|idx|`` SFO calls.

        ``idx`` holds local row numbers (int64, sorted, repeats allowed); ``out`` is
        overwritten and nothing is allocated.
        """

    @abstractmethod
    def local_sums(self, x: np.ndarray, grad_out: np.ndarray) -> float:
        """Sum of ``F(x; i)`` over the local rows; ``grad_out <- sum_i grad F(x; i)``.

        No ``1/n`` and no regulariser: sums from all ranks add up to the data part of ``n f``.
        """

    @abstractmethod
    def regulariser(self, x: np.ndarray, grad_out: np.ndarray) -> float:
        """``r(x)``; adds ``grad r(x)`` to ``grad_out``."""

    @abstractmethod
    def local_smoothness(self) -> float:
        """An upper bound of the smoothness constant ``L`` from this rank's rows (take the max
        over ranks for the global ``L``)."""

    def initial_point(self, seed: int) -> np.ndarray:
        """The starting point ``x_1``, identical on every rank: zeros unless a problem needs a
        seeded random one (a network, whose zero point is a saddle by symmetry)."""
        return np.zeros(self.dim)

    def count_correct(self, x: np.ndarray, dataset: object) -> int:
        """Rows of ``dataset`` that the model ``x`` classifies right (problems that classify)."""
        raise NotImplementedError(f"{type(self).__name__} does not classify")

    def sample_batch(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        """The local rows of one minibatch: ``batch`` i.i.d. draws from this rank's shard,
        sorted (:func:`crpsgd.data.rng.sample_indices`)."""
        return sample_indices(rng, self.n_local, batch)

    def apply_step(self, x: np.ndarray, grad: np.ndarray, gamma: float) -> None:
        """``x <- x - gamma grad`` in place; ``grad`` (the averaged gradient) is overwritten."""
        grad *= gamma
        x -= grad

    def loop_arrays(self, x0: np.ndarray, slots: int) -> tuple[np.ndarray, np.ndarray]:
        """The loop's iterate (a copy of ``x0``) and its round buffer ``[gradient | slots
        extra values]``, both of :attr:`dtype`; new arrays unless a problem holds its own
        (a torch model's flat buffers, which the loop then uses without copies)."""
        x = np.array(x0, dtype=self.dtype, copy=True)
        return x, np.empty(x.size + slots, dtype=self.dtype)

    def round_kernel(self) -> tuple | None:
        """The arrays of a compiled minibatch gradient that the compiled block of rounds
        (:mod:`crpsgd.algorithms.fast_rounds`) can call instead of :meth:`stochastic_grad`,
        :meth:`sample_batch` and :meth:`apply_step`: ``(indptr, indices, data, y, lam)`` (CSR)
        or ``(dense, y, lam)`` of a logistic loss; None (the default): rounds stay in Python."""
        return None

    def state_arrays(self) -> dict[str, np.ndarray]:
        """This rank's state besides the iterate that a checkpoint must keep (e.g. momentum
        buffers); none by default. Checkpoints store the arrays as float64."""
        return {}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Continue from what :meth:`state_arrays` returned (as float64 arrays)."""
        return None

    def before_evaluation(self, comm: Any) -> None:
        """Called on every rank before a full evaluation (e.g. to average statistics over
        ranks with an evaluation collective); nothing by default."""
        return None
