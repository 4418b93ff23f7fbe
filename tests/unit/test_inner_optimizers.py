"""DiLoCo's inner optimizers against PyTorch's own SGD and AdamW on the same gradients."""

from __future__ import annotations

import numpy as np
import pytest

from crpsgd.algorithms.inner_optimizers import make_inner_optimizer
from crpsgd.errors import UsageError

torch = pytest.importorskip("torch", reason="the reference optimizers are PyTorch's")


@pytest.mark.parametrize(
    ("name", "momentum", "weight_decay"),
    [("sgd", 0.0, 0.0), ("sgd", 0.9, 5e-4), ("adamw", 0.0, 0.0), ("adamw", 0.0, 0.1)],
)
def test_inner_steps_follow_pytorch(name, momentum, weight_decay):
    rng = np.random.default_rng(3)
    x0, grads, gamma = rng.standard_normal(7), rng.standard_normal((5, 7)), 0.05
    ours = make_inner_optimizer(name, 7, np.dtype(np.float64), momentum, weight_decay)
    x = x0.copy()
    for g in grads:
        ours.step(x, g.copy(), gamma)
    p = torch.nn.Parameter(torch.tensor(x0))
    if name == "sgd":
        opt = torch.optim.SGD([p], lr=gamma, momentum=momentum, weight_decay=weight_decay)
    else:
        opt = torch.optim.AdamW([p], lr=gamma, weight_decay=weight_decay)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    np.testing.assert_allclose(x, p.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_state_round_trips_through_a_checkpoint():
    rng = np.random.default_rng(4)
    a = make_inner_optimizer("adamw", 3, np.dtype(np.float64))
    x = rng.standard_normal(3)
    a.step(x, rng.standard_normal(3), 0.1)
    arrays, counters = a.state()
    b = make_inner_optimizer("adamw", 3, np.dtype(np.float64))
    b.load(arrays, counters)
    g = rng.standard_normal(3)
    xa, xb = x.copy(), x.copy()
    a.step(xa, g.copy(), 0.1)
    b.step(xb, g.copy(), 0.1)
    assert np.array_equal(xa, xb)


def test_unknown_inner_optimizer_is_a_usage_error():
    with pytest.raises(UsageError, match="--inner-optimizer=adam: must be one of sgd, adamw"):
        make_inner_optimizer("adam", 3, np.dtype(np.float64))
