"""``GrowingBatchSampler`` and ``GradientAverager`` on one process: the batches of the
schedule within the budget, each rank's shard and stream (ranks of a stand-in
communicator), exact resume from ``state_dict``, the averager's round, and bad input refused
by name. Two real ranks: tests/mpi/test_torch_user_loop.py."""

import copy
import io
import math
from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from crpsgd.comm import failures  # noqa: E402
from crpsgd.data.rng import worker_rng  # noqa: E402
from crpsgd.data.shard import shard_bounds  # noqa: E402
from crpsgd.errors import UsageError  # noqa: E402
from crpsgd.torch import GradientAverager, GrowingBatchSampler  # noqa: E402
from crpsgd.torch.alone import end_job_if_alone, where  # noqa: E402


class RankOf:
    """An mpi4py-like communicator that only says its rank and size (no collective runs)."""

    def __init__(self, rank: int, size: int) -> None:
        self.rank, self.size = rank, size

    def Get_rank(self) -> int:
        return self.rank

    def Get_size(self) -> int:
        return self.size

    def Dup(self) -> "RankOf":
        return self


@pytest.fixture
def ranks():
    """Build samplers on stand-in ranks without leaving one as the active communicator."""
    active = failures.ACTIVE[0]
    yield lambda rank, size: RankOf(rank, size)
    failures.ACTIVE[0] = active


def exponential(b1: int, rho: str, budget: int) -> list[int]:
    """``floor(rho^(t-1) B_1)`` in exact arithmetic, while ``B_1 + ... + B_t <= T``."""
    out, t = [], 1
    while sum(out) + (b := math.floor(Fraction(rho) ** (t - 1) * b1)) <= budget:
        out.append(b)
        t += 1
    return out


@pytest.mark.parametrize("b1, rho, budget", [(8, "1.5", 400), (125, "1.2", 2000), (1, "2", 64)])
def test_batches_follow_the_exponential_schedule_within_the_budget(b1, rho, budget):
    sampler = GrowingBatchSampler(1000, T=budget, b1=b1, rho=float(rho))
    want = exponential(b1, rho, budget)
    assert len(sampler) == len(want)
    assert [len(idx) for idx in sampler] == want
    assert sampler.sfo == sum(want) <= budget < sum(want) + exponential(b1, rho, 10**9)[len(want)]
    assert list(sampler) == [] and len(sampler) == 0  # one pass is the whole run


def test_constant_batches_and_len_while_iterating():
    sampler = GrowingBatchSampler(list(range(30)), T=50, schedule="constant", batch=7)
    it = iter(sampler)
    assert len(next(it)) == 7 and len(sampler) == 6  # rounds left
    assert [len(i) for i in it] == [7] * 6 and sampler.sfo == 49


def test_each_rank_draws_its_own_shard_with_its_own_stream(ranks):
    n, size, seed, b1, rho, budget = 11, 3, 4, 3, 1.5, 40
    batches = exponential(b1, "1.5", budget)
    seen = []
    for r in range(size):
        sampler = GrowingBatchSampler(n, T=budget, b1=b1, rho=rho, seed=seed, comm=ranks(r, size))
        lo, hi = shard_bounds(n, r, size)
        rng = worker_rng(seed, r)  # the torch problem's sample_batch, by hand
        want = [(np.sort(rng.integers(0, hi - lo, size=b, dtype=np.int64)) + lo).tolist()
                for b in batches]  # fmt: skip
        got = list(sampler)
        assert got == want and sampler.shard == (lo, hi)
        seen.append({i for idx in got for i in idx})
    assert all(a.isdisjoint(b) for k, a in enumerate(seen) for b in seen[k + 1 :])
    assert set().union(*seen) <= set(range(n))


def test_a_resumed_sampler_gives_the_same_remaining_index_lists():
    args = {"T": 600, "b1": 5, "rho": 1.3, "seed": 9}
    first = GrowingBatchSampler(200, **args)
    it = iter(first)
    done = [next(it) for _ in range(4)]
    saved = io.BytesIO()
    torch.save(first.state_dict(), saved)  # through a file, as a user keeps it
    rest = list(it)
    again = GrowingBatchSampler(200, **args)
    saved.seek(0)
    again.load_state_dict(torch.load(saved))
    assert list(again) == rest and len(rest) > 2 and again.sfo == first.sfo
    assert done != rest[: len(done)]
    with pytest.raises(UsageError, match="the state's config"):
        GrowingBatchSampler(200, **{**args, "seed": 10}).load_state_dict(first.state_dict())


def test_adaptive_batches_wait_for_the_averaged_round(ranks):
    sampler = GrowingBatchSampler(50, T=100, b1=4, schedule="adaptive", comm=ranks(0, 2))
    it = iter(sampler)
    assert len(next(it)) == 4
    with pytest.raises(UsageError, match="round 2 asked for before round 1 was averaged"):
        next(it)
    with pytest.raises(TypeError, match="unknown"):
        len(sampler)


def test_the_averager_on_one_rank_leaves_the_gradient_and_mends_none_grads():
    sampler = GrowingBatchSampler(40, T=30, b1=6, rho=2.0)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    averager = GradientAverager(model, sampler)
    x = torch.randn(40, 3)
    for idx in sampler:
        model.zero_grad()  # sets every .grad to None: backward makes tensors of its own
        model(x[idx]).square().mean().backward()
        own = [p.grad.clone() for p in model.parameters()]
        averager.average()
        assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), own, strict=True))
        assert all(p.grad.untyped_storage().data_ptr() == averager.flat.grads.data_ptr()
                   for p in model.parameters())  # fmt: skip
    assert sampler.rounds == 2
    with pytest.raises(UsageError, match="round 2 was averaged already"):
        averager.average()


def test_state_dict_waits_for_the_average():
    sampler = GrowingBatchSampler(40, T=30, b1=6, rho=2.0)
    GradientAverager(torch.nn.Linear(3, 2), sampler)
    next(iter(sampler))
    with pytest.raises(UsageError, match="not averaged yet"):
        sampler.state_dict()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rho": 1.0}, r"rho=1\.0 \(GrowingBatchSampler\): must be > 1"),
        ({"b1": 0}, r"b1=0 \(GrowingBatchSampler\): must be >= 1"),
        ({"T": 4, "b1": 8}, r"T=4 \(GrowingBatchSampler\): the budget is smaller"),
        ({"batch": 3}, r"batch=: not a keyword of GrowingBatchSampler with schedule='exp"),
        ({"schedule": "growing"}, r"schedule='growing': must be one of"),
        ({"seed": -1}, r"seed=-1 \(GrowingBatchSampler\): must be >= 0"),
        ({"schedule": "adaptive"}, r"schedule='adaptive' \(GrowingBatchSampler\).*N >= 2"),
    ],
)
def test_bad_sampler_arguments_name_the_keyword(kwargs, message):
    with pytest.raises(UsageError, match=message):
        GrowingBatchSampler(20, **{"T": 50, **kwargs})


def test_bad_data_and_models_are_refused_by_name():
    with pytest.raises(UsageError, match="data .GrowingBatchSampler.: 0 items"):
        GrowingBatchSampler([], T=10)
    with pytest.raises(UsageError, match="data=object"):
        GrowingBatchSampler(object(), T=10)
    sampler = GrowingBatchSampler(20, T=50)
    with pytest.raises(UsageError, match="model=ReLU: the model has no parameters"):
        GradientAverager(torch.nn.ReLU(), sampler)
    with pytest.raises(UsageError, match="sampler=list"):
        GradientAverager(torch.nn.Linear(2, 2), [1])
    with pytest.raises(UsageError, match="comm=str: not an mpi4py communicator"):
        GrowingBatchSampler(20, T=50, comm="world")
    with pytest.raises(UsageError, match="no round was drawn yet"):
        GradientAverager(torch.nn.Linear(2, 2), copy.copy(sampler)).average()


def test_a_failure_is_told_at_the_user_s_innermost_line():
    def users_loss():
        return torch.nn.functional.cross_entropy(torch.zeros(2, 3), torch.zeros(3).long())

    try:
        users_loss()  # fails inside torch: the line named is the user's, in users_loss
    except (ValueError, RuntimeError) as exc:
        line = users_loss.__code__.co_firstlineno + 1
        assert where(exc) == f"{__file__}:{line}: "
        end_job_if_alone(exc, 0, 1)  # one rank: nothing to end, the caller raises it
    else:
        raise AssertionError("cross_entropy accepted 2 outputs for 3 targets")
