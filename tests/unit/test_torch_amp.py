"""``--amp bf16``: the training forward pass runs under a bfloat16 autocast (on the CPU here:
PyTorch's CPU autocast), evaluations stay float32; a bad value is one message."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from crpsgd.data.images import cifar10_shards  # noqa: E402
from crpsgd.errors import UsageError  # noqa: E402
from crpsgd.torchprob.problem import TorchProblem  # noqa: E402
from tests import torch_models  # noqa: E402
from tests.cifar_files import write_random_cifar  # noqa: E402
from tests.conftest import run_cli  # noqa: E402

ROWS = np.arange(12, dtype=np.int64)


@pytest.fixture
def train(tmp_path):
    write_random_cifar(tmp_path, rows=(6, 6, 6, 6, 6), test_rows=7)
    return cifar10_shards(f"cifar10:{tmp_path}", 0, 1)[0]


def _problem(shard, amp):
    torch.manual_seed(0)  # the same initial model every time
    model = torch_models.cnn_without_norm()
    return TorchProblem(model, shard, rank=0, size=1, seed=3, augment=False, amp=amp)


def _grad(problem):
    problem.stochastic_grad(problem.x, ROWS, problem.grad)
    return problem.grad.copy()


def test_bf16_gradient_is_the_autocast_gradient_of_the_batch(train):
    amp, plain = _problem(train, "bf16"), _problem(train, "off")
    np.testing.assert_array_equal(amp.x, plain.x)
    g_amp, g_plain = _grad(amp), _grad(plain)

    # by hand: one forward of the 12 rows under a bfloat16 CPU autocast, backward in float32
    torch.manual_seed(0)
    model = torch_models.cnn_without_norm()
    inputs, targets = plain.pipeline.batch(ROWS, augment=False)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = model(inputs)
        loss = torch.nn.functional.cross_entropy(out, targets)
    assert out.dtype == torch.bfloat16  # the autocast did act on the model
    loss.backward()
    by_hand = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).numpy()
    np.testing.assert_allclose(g_amp, by_hand, rtol=1e-6, atol=1e-7)

    # bfloat16 keeps 8 bits of mantissa: not the float32 gradient, but near it
    assert not np.array_equal(g_amp, g_plain)
    assert np.linalg.norm(g_amp - g_plain) < 0.05 * np.linalg.norm(g_plain)
    assert g_amp.dtype == np.float32


def test_evaluation_stays_float32(train):
    amp, plain = _problem(train, "bf16"), _problem(train, "off")
    g_amp, g_plain = np.zeros(amp.dim), np.zeros(plain.dim)
    assert amp.local_sums(amp.x, g_amp) == plain.local_sums(plain.x, g_plain)
    np.testing.assert_array_equal(g_amp, g_plain)


def test_a_bad_amp_value_is_one_usage_error(train):
    with pytest.raises(UsageError, match=r"--amp=fp8: expected one of off, bf16"):
        _problem(train, "fp8")
    proc = run_cli(["run", "--problem", "torch", "--amp", "fp8", "--T", "4"])
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "crpsgd: error: --amp='fp8': must be one of off, bf16"
