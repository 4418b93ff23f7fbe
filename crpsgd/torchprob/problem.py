"""A ``torch.nn.Module`` as a crpsgd :class:`~crpsgd.problems.base.Problem`.

``f(x) = (1/n) sum_i F(x; i)`` with ``F`` the model's loss on sample ``i`` (cross-entropy
unless the model brings its own), ``x`` the float32 vector of all parameters. The loop's
``x`` and ``grad`` are :attr:`TorchProblem.x` and :attr:`TorchProblem.grad`: NumPy views of
the flat buffers of :mod:`crpsgd.torchprob.flat` (on a GPU, pinned host mirrors of them), so
the round Allreduces one float32 buffer. Other arrays work too (they are copied in and out).

A round (:meth:`TorchProblem.stochastic_grad`) takes the ``B_t`` rows in ``ceil(B_t / M)``
chunks of nearly equal size, at most ``M = micro_batch`` samples each, runs forward and
backward on each with the chunk's loss scaled by ``|chunk| / B_t`` and accumulates into the
flat gradient: the mean over ``B_t`` (as DDP's ``no_sync()`` and Horovod's
``backward_passes_per_step``), then the loop's one Allreduce.
BatchNorm layers train on each chunk's own statistics (so ``micro_batch`` is BatchNorm's
batch size, as in ghost batch normalisation) and update their running statistics per chunk;
before every evaluation :meth:`TorchProblem.before_evaluation` averages the running mean and
variance over ranks (one evaluation collective, not a round).

Within-worker noise estimate: after :meth:`TorchProblem.enable_chunk_variance` (the noise
estimator calls it for ``--noise-source samples``) a batch of ``B >= 2`` runs in at least two
chunks, its draws are sorted within each chunk only, and each round records the unbiased
``tr(Sigma)`` estimate from its chunks (:mod:`crpsgd.torchprob.chunks`: the maths and the
cost, one scratch vector of the model's size).

Evaluation runs the model in eval mode (running statistics, no augmentation) on a fixed
training subset of ``eval_rows`` samples in all: rank ``r`` takes the first
``shard_bounds(eval_rows, r, N)``-many rows of its own shard. :attr:`n_eval_total` is the
subset's size; ``local_sums`` sums over this rank's part of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from crpsgd.comm.communicator import Communicator
from crpsgd.data.images import ImageShard
from crpsgd.data.shard import shard_bounds
from crpsgd.errors import UsageError, UserCodeError
from crpsgd.problems.base import Problem
from crpsgd.schedules.optim import SgdUpdate
from crpsgd.torchprob.chunks import ChunkVariance, chunk_count, order_within_chunks
from crpsgd.torchprob.device import amp_context, resolve_device
from crpsgd.torchprob.extra_state import seed_global_generator
from crpsgd.torchprob.fit_check import check_model
from crpsgd.torchprob.flat import GRADIENT_LOST, FlatModule, numpy_view
from crpsgd.torchprob.models import Loss
from crpsgd.torchprob.pipeline import BatchPipeline
from crpsgd.torchprob.problem_state import load_state, state_of
from crpsgd.torchprob.usercode import user_code

AUGMENT_STREAM = 1  # spawn key of the augmentation stream beside the rank's sampling stream


def augmentation_generator(seed: int, rank: int) -> torch.Generator:
    """Rank ``rank``'s augmentation stream: seeded from ``SeedSequence(seed, spawn_key=(rank,
    1))``, independent of the sampling stream ``worker_rng(seed, rank)`` (spawn key
    ``(rank,)``) and of every other rank's."""
    seq = np.random.SeedSequence(seed, spawn_key=(rank, AUGMENT_STREAM))
    return torch.Generator().manual_seed(int(seq.generate_state(1, np.uint64)[0] >> 1))


class TorchProblem(Problem):
    """Trains ``model`` on this rank's ``shard`` (see the module docstring for the maths)."""

    dtype = np.float32
    smoothness_known = False

    def __init__(
        self,
        model: nn.Module,
        shard: ImageShard,
        *,
        rank: int,
        size: int,
        seed: int,
        loss: Loss | None = None,
        micro_batch: int = 128,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        augment: bool = True,
        eval_rows: int = 10000,
        threads: int = 1,
        device: str = "cpu",
        amp: str = "off",
        model_name: str = "model",
        origin: str | None = None,
        loss_origin: str | None = None,
    ) -> None:
        if micro_batch < 1:
            raise UsageError(f"--micro-batch={micro_batch}: must be >= 1")
        if threads < 1:
            raise UsageError(f"--threads={threads}: must be >= 1")
        if eval_rows < size:
            raise UsageError(
                f"--eval-rows={eval_rows}: must be >= the number of ranks ({size}): every "
                "rank evaluates its share of the rows"
            )
        torch.set_num_threads(threads)
        self.device = resolve_device(device)
        self._amp = amp_context(self.device, amp)  # --amp: the training forward's precision
        self.flat = FlatModule(model, self.device)
        self.model = self.flat.module
        self.origin = origin or f"--model={model_name}"  # origin: model=Net (crpsgd.torch)
        self.loss_origin = loss_origin  # a loss of its own argument (loss=...), if any
        self._failed = {  # what the guard of the user's code says during the rounds
            mode: f"{self.origin}: the {mode} step failed" for mode in ("training", "evaluation")
        }
        self.own_loss = loss is not None
        self.loss = loss if loss is not None else nn.CrossEntropyLoss()
        self.shard = shard
        self.micro_batch = int(micro_batch)
        self.augment = bool(augment) and shard.is_image
        self.dim = self.flat.dim
        self.n_local = shard.n_rows
        self.n_total = shard.n_total
        self.n_eval_total = min(int(eval_rows), shard.n_total)
        lo, hi = shard_bounds(self.n_eval_total, rank, size)
        self.eval_idx = np.arange(min(hi - lo, self.n_local), dtype=np.int64)
        self.generator = augmentation_generator(seed, rank)
        self.pipeline = BatchPipeline(shard, self.generator, self.device)
        self._saved_grad = torch.empty_like(self.flat.grads)
        self._chunk_variance: ChunkVariance | None = None  # on: enable_chunk_variance()
        self.update = SgdUpdate(self.dim, np.dtype(np.float32), momentum, weight_decay)
        if self.device == "cpu":
            self.x = numpy_view(self.flat.params)
            self.grad = numpy_view(self.flat.grads)
        else:  # pinned host mirrors: what MPI reads and the update writes
            self.x = numpy_view(torch.empty(self.dim, pin_memory=True))
            self.grad = numpy_view(torch.empty(self.dim, pin_memory=True))
            self.x[:] = self.flat.params.cpu().numpy()
        check_model(self, self.origin)
        seed_global_generator(seed, rank)  # after the check, which may draw (Dropout)

    # ------------------------------------------------------------------ the round
    def stochastic_grad(self, x: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
        """``out <- (1/|idx|) sum_{i in idx} grad F(x; i)``, in chunks of ``micro_batch``
        (at least two with the chunk estimate on, whose ``tr(Sigma)`` it then records)."""
        self._load(x)
        self.flat.zero_grads()
        self.model.train()
        total, acc, grads = idx.size, self._chunk_variance, self.flat.grads
        if acc is not None:
            acc.begin(total)
        for chunk in self._chunks(idx, training=True):
            inputs, targets = self.pipeline.batch(chunk, self.augment)
            if acc is not None:
                acc.before_chunk(grads)
            with user_code(self._failed["training"], "rounds"):
                with self._amp():
                    value = self.loss(self.model(inputs), targets) * (chunk.size / total)
                value.backward()
            if acc is not None:
                acc.after_chunk(grads, chunk.size)
        if acc is not None:
            acc.finish(grads)
        if not self.flat.grads_in_place():  # this round's gradient never reached the buffer
            raise UserCodeError(f"{self._failed['training']}: {GRADIENT_LOST}")
        self._store_grad(out)

    def enable_chunk_variance(self) -> None:
        """From now on: at least two chunks for ``B >= 2`` (halves when ``B <= M``), draws
        sorted within each chunk (:meth:`sample_batch`), and each round's ``tr(Sigma)``
        estimate from its chunks kept for :meth:`chunk_trace_of`. Costs one scratch vector
        of the model's size; idempotent."""
        if self._chunk_variance is None:
            self._chunk_variance = ChunkVariance(self.flat.grads)

    def chunk_trace_of(self, rows: int) -> float:
        """The ``tr(Sigma)`` estimate of the last :meth:`stochastic_grad`, which took ``rows``
        rows (NaN for one row); raises ValueError if that call did not estimate it."""
        if self._chunk_variance is None:
            raise ValueError("the chunk estimate needs enable_chunk_variance() before the round")
        return self._chunk_variance.trace_of(rows)

    def loop_arrays(self, x0: np.ndarray, slots: int) -> tuple[np.ndarray, np.ndarray]:
        """Without extra slots: :attr:`x` (set to ``x0``) and :attr:`grad`, the views of the
        flat buffers, so the round copies nothing; with slots, new arrays (copied in/out)."""
        if slots:
            return super().loop_arrays(x0, slots)
        self.x[:] = x0
        return self.x, self.grad

    def apply_step(self, x: np.ndarray, grad: np.ndarray, gamma: float) -> None:
        """The update of :class:`crpsgd.schedules.optim.SgdUpdate` (plain, momentum, weight
        decay)."""
        self.update(x, grad, gamma)

    def sample_batch(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        """``batch`` local rows i.i.d. with replacement, sorted: the draws of the loop's
        ``sample_indices`` (the same stream, bit for bit). With the chunk estimate on, sorted
        only within each chunk of the round, so that every chunk is a set of i.i.d. draws."""
        idx = rng.integers(0, self.n_local, size=batch, dtype=np.int64)
        if self._chunk_variance is not None:
            return order_within_chunks(idx, self._chunk_count(batch, True))
        idx.sort()
        return idx

    # ------------------------------------------------------------------ evaluation
    def before_evaluation(self, comm: Communicator) -> None:
        """Average BatchNorm's running mean and variance over ranks (one evaluation
        collective, in float64): the variance is the mean of the ranks' variances."""
        stats = self.flat.norm_stats
        if stats.numel() == 0:
            return
        buf = stats.detach().cpu().numpy().astype(np.float64)
        comm.eval_allreduce_sum_(buf)
        buf /= comm.size
        stats.copy_(torch.from_numpy(buf.astype(np.float32)))

    def local_sums(self, x: np.ndarray, grad_out: np.ndarray) -> float:
        """Sum of ``F`` over this rank's part of the evaluation subset, in eval mode;
        ``grad_out <- sum grad F`` (float64)."""
        self._load(x)
        self._saved_grad[:] = self.flat.grads  # the loop's gradient survives an evaluation
        self.flat.zero_grads()
        self.model.eval()
        total = 0.0
        for chunk in self._chunks(self.eval_idx):
            inputs, targets = self.pipeline.batch(chunk, augment=False)
            with user_code(self._failed["evaluation"], "rounds"):
                value = self.loss(self.model(inputs), targets) * chunk.size
                value.backward()
            total += float(value.detach())
        grad_out[:] = self.flat.grads.detach().cpu().numpy()
        self.flat.grads.copy_(self._saved_grad)
        self.model.train()
        return total

    def regulariser(self, x: np.ndarray, grad_out: np.ndarray) -> float:
        """0: weight decay is part of the update, not of the objective."""
        return 0.0

    def local_smoothness(self) -> float:
        return math.nan

    def initial_point(self, seed: int) -> np.ndarray:
        """The model's parameters as built (from the seed; identical on every rank)."""
        return self.flat.params.detach().cpu().numpy().copy()

    def test_sums(self, x: np.ndarray, test: ImageShard) -> tuple[float, float]:
        """``(sum of the loss, correctly classified rows)`` over ``test``, in eval mode;
        NaN rows for float targets (regression: no accuracy)."""
        self._load(x)
        self.model.eval()
        pipe = BatchPipeline(test, self.generator, self.device)
        loss_sum, correct = 0.0, 0
        with torch.no_grad():
            for chunk in self._chunks(np.arange(test.n_rows, dtype=np.int64)):
                inputs, targets = pipe.batch(chunk, augment=False)
                with user_code(self._failed["evaluation"], "rounds"):
                    out = self.model(inputs)
                    loss_sum += float(self.loss(out, targets)) * chunk.size
                if test.n_classes:
                    correct += int((out.argmax(dim=1) == targets).sum())
        self.model.train()
        return loss_sum, (correct if test.n_classes else math.nan)

    def count_correct(self, x: np.ndarray, dataset: ImageShard) -> int:
        return self.test_sums(x, dataset)[1]

    # ------------------------------------------------------------------ checkpoints
    def state_arrays(self) -> dict[str, np.ndarray]:
        """This rank's state beyond ``x`` (:func:`crpsgd.torchprob.problem_state.state_of`)."""
        return state_of(self)

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        load_state(self, arrays)

    # ------------------------------------------------------------------ helpers
    def _chunks(self, idx: np.ndarray, training: bool = False) -> Iterator[np.ndarray]:
        """``idx`` in ``ceil(|idx| / micro_batch)`` consecutive chunks of nearly equal size
        (at most ``micro_batch``): no tiny last chunk, whose BatchNorm statistics would be
        those of one or two samples. A training batch with the chunk estimate on: at least
        two chunks for ``|idx| >= 2``."""
        yield from np.array_split(idx, self._chunk_count(idx.size, training))

    def _chunk_count(self, rows: int, training: bool) -> int:
        return chunk_count(rows, self.micro_batch, training and self._chunk_variance is not None)

    def _load(self, x: np.ndarray) -> None:
        """Make the model's parameters equal ``x`` (nothing to do when ``x`` is the view)."""
        if self.device == "cpu":
            if not np.shares_memory(x, self.x):
                self.x[:] = x
        else:
            if not np.shares_memory(x, self.x):
                self.x[:] = x
            self.flat.params.copy_(torch.from_numpy(self.x), non_blocking=True)

    def _store_grad(self, out: np.ndarray) -> None:
        if self.device != "cpu":
            torch.from_numpy(self.grad).copy_(self.flat.grads)  # synchronous: MPI reads next
        if not np.shares_memory(out, self.grad):
            out[:] = self.grad
