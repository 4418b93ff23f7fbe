"""Step sizes per round and the SGD update against hand-computed sequences (and against
``torch.optim.SGD`` where PyTorch is installed)."""

import numpy as np
import pytest

from crpsgd.errors import UsageError
from crpsgd.schedules.optim import (
    ConstantStep,
    LinearWarmup,
    SgdUpdate,
    StepDecay,
    make_step_size,
    parse_fractions,
)


def test_step_decay_at_half_and_three_quarters_of_the_budget():
    step = StepDecay(gamma=0.8, budget=100)
    got = [step(s) for s in (0, 49, 50, 74, 75, 99, 100)]
    assert got == pytest.approx([0.8, 0.8, 0.08, 0.08, 0.008, 0.008, 0.008], rel=1e-15)
    # fractions are compared as the decimals written: 0.55 * 100 is 55.00000000000001 in
    # floating point, yet the decay at 55% of T = 100 starts at s = 55
    assert StepDecay(1.0, 100, (0.55,), 0.5)(55) == 0.5
    assert StepDecay(1.0, 100, (0.55,), 0.5)(54) == 1.0


def test_linear_warmup_then_the_schedule():
    warm = LinearWarmup(ConstantStep(1.0), sfo=100, start=0.2)
    assert [warm(s) for s in (0, 25, 50, 100, 400)] == pytest.approx([0.2, 0.4, 0.6, 1.0, 1.0])
    both = make_step_size(2.0, 1000, "step", "0.5", 0.5, warmup_sfo=100, warmup_start=0.0)
    assert [both(s) for s in (0, 50, 100, 499, 500)] == pytest.approx([0, 1.0, 2.0, 2.0, 1.0])
    assert make_step_size(0.3, 10) == ConstantStep(0.3)


def test_step_size_errors_name_the_flag():
    with pytest.raises(UsageError, match=r"--decay-at=0.75,0.5: fractions must increase"):
        parse_fractions("0.75,0.5")
    with pytest.raises(UsageError, match=r"--decay-at=1.5"):
        parse_fractions("1.5")
    with pytest.raises(UsageError, match=r"--decay-at=half: expected fractions"):
        parse_fractions("half")
    with pytest.raises(UsageError, match=r"--lr-schedule=cosine"):
        make_step_size(1.0, 10, "cosine")
    with pytest.raises(UsageError, match=r"--weight-decay=-1.0"):
        SgdUpdate(3, np.float32, 0.0, -1.0)


def test_plain_update_is_the_loops_step_bit_for_bit():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(50).astype(np.float32)
    g = rng.standard_normal(50).astype(np.float32)
    ref_x, ref_g = x.copy(), g.copy()
    ref_g *= 0.3
    ref_x -= ref_g
    SgdUpdate(50, np.float32)(x, g, 0.3)
    np.testing.assert_array_equal(x, ref_x)


def test_momentum_and_weight_decay_against_a_hand_computed_sequence():
    """x1 = 1, g = 1 each step, mu = 1/2, gamma = 1/4 (every value exact in binary):
    v = 1, 3/2, 7/4; x = 3/4, 3/8, -1/16. With wd = 1/2 as well: d = g + x/2,
    v1 = 3/2, x2 = 5/8; d = 21/16, v2 = 33/16, x3 = 7/64."""
    up = SgdUpdate(1, np.float32, momentum=0.5)
    x, seq = np.ones(1, dtype=np.float32), []
    for _ in range(3):
        up(x, np.ones(1, dtype=np.float32), 0.25)
        seq.append(float(x[0]))
    assert seq == [0.75, 0.375, -0.0625]
    up = SgdUpdate(1, np.float32, momentum=0.5, weight_decay=0.5)
    x, seq = np.ones(1, dtype=np.float32), []
    for _ in range(2):
        up(x, np.ones(1, dtype=np.float32), 0.25)
        seq.append(float(x[0]))
    assert seq == [0.625, 7 / 64]
    assert up.velocity[0] == 33 / 16


def test_the_update_is_torch_sgds():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    rng = np.random.default_rng(2)
    x = rng.standard_normal(40).astype(np.float32)
    param = torch.nn.Parameter(torch.from_numpy(x.copy()))
    opt = torch.optim.SGD([param], lr=0.1, momentum=0.9, weight_decay=0.01)
    up = SgdUpdate(40, np.float32, momentum=0.9, weight_decay=0.01)
    for gamma in (0.1, 0.1, 0.1, 0.1, 0.1):
        g = rng.standard_normal(40).astype(np.float32)
        param.grad = torch.from_numpy(g.copy())
        opt.step()
        up(x, g, gamma)
    np.testing.assert_allclose(x, param.detach().numpy(), rtol=1e-6, atol=1e-6)
