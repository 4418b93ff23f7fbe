"""The torch problem on one rank: flat buffers, micro-batches, augmentation, ResNet20,
checkpoint state and bad input. Skipped where PyTorch is not installed."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from crpsgd.comm.communicator import Communicator  # noqa: E402
from crpsgd.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD  # noqa: E402
from crpsgd.data.images import ImageShard, cifar10_shards  # noqa: E402
from crpsgd.data.rng import worker_rng  # noqa: E402
from crpsgd.errors import UsageError  # noqa: E402
from crpsgd.torchprob.build import (  # noqa: E402
    TORCH_PARAMS,
    TorchData,
    build_torch_problem,
    load_torch_data,
)
from crpsgd.torchprob.evaluate import TorchEvaluator  # noqa: E402
from crpsgd.torchprob.pipeline import BatchPipeline  # noqa: E402
from crpsgd.torchprob.problem import TorchProblem, augmentation_generator  # noqa: E402
from crpsgd.torchprob.resnet import resnet20  # noqa: E402
from tests import torch_models  # noqa: E402
from tests.cifar_files import write_random_cifar  # noqa: E402


@pytest.fixture
def shards(tmp_path):
    write_random_cifar(tmp_path, rows=(6, 6, 6, 6, 6), test_rows=7)
    return cifar10_shards(f"cifar10:{tmp_path}", 0, 1)


def _cfg(**kw):
    cfg = {p.name: p.default for p in TORCH_PARAMS}
    cfg.update(seed=3, T=100, data="cifar10:x", test_data=None)
    cfg.update(kw)
    return cfg


def _problem(shard, build=torch_models.small_cnn, **kw):
    torch.manual_seed(0)  # the same initial model every time
    return TorchProblem(build(), shard, rank=0, size=1, seed=3, **kw)


def test_the_flat_buffers_are_the_models_tensors(shards):
    train, _ = shards
    p = _problem(train, augment=False)
    inputs, _ = p.pipeline.batch(np.arange(4), augment=False)
    p.model.eval()
    before = p.model(inputs).detach().clone()
    p.x[-10:] += 1.0  # the last layer's bias: every output moves by exactly 1
    after = p.model(inputs).detach()
    torch.testing.assert_close(after, before + 1.0)
    p.stochastic_grad(p.x, np.arange(8), p.grad)
    flat_from_module = torch.cat([q.grad.reshape(-1) for q in p.model.parameters()])
    np.testing.assert_array_equal(flat_from_module.numpy(), p.grad)
    assert p.x.dtype == np.float32 and p.dim == sum(q.numel() for q in p.model.parameters())
    p.flat.check_views()
    p.model.zero_grad()  # sets .grad to None: the problem notices
    with pytest.raises(RuntimeError, match="left the flat buffer"):
        p.flat.check_views()


def test_other_arrays_are_copied_in_and_out(shards):
    p = _problem(shards[0], augment=False)
    x = p.x.copy()
    x[:5] = 0.25
    out = np.empty_like(x)
    p.stochastic_grad(x, np.arange(5), out)
    np.testing.assert_array_equal(p.x, x)
    np.testing.assert_array_equal(out, p.grad)


def test_micro_batches_give_the_whole_batch_gradient(shards):
    """Without BatchNorm the chunked mean equals the one-pass mean up to float32 rounding of
    a different summation order: |diff| <= 1e-5 * max |g| + 1e-7."""
    train, _ = shards
    idx = np.sort(np.random.default_rng(0).integers(0, train.n_rows, 23))
    whole = _problem(train, torch_models.cnn_without_norm, micro_batch=1000, augment=False)
    g_whole = np.empty(whole.dim, dtype=np.float32)
    whole.stochastic_grad(whole.x, idx, g_whole)
    for m in (1, 5, 22):
        chunked = _problem(train, torch_models.cnn_without_norm, micro_batch=m, augment=False)
        np.testing.assert_array_equal(chunked.x, whole.x)  # same seed, same model
        g = np.empty_like(g_whole)
        chunked.stochastic_grad(chunked.x, idx, g)
        tol = 1e-5 * np.abs(g_whole).max() + 1e-7
        np.testing.assert_allclose(g, g_whole, rtol=0, atol=tol)
    # and the whole-batch gradient is the mean of per-sample gradients (plain reference)
    single = _problem(train, torch_models.cnn_without_norm, augment=False)
    acc = np.zeros(single.dim)
    for i in idx:
        single.stochastic_grad(single.x, np.array([i]), single.grad)
        acc += single.grad
    np.testing.assert_allclose(g_whole, acc / idx.size, rtol=0, atol=tol)


def test_chunks_are_nearly_equal_and_at_most_the_micro_batch(shards):
    p = _problem(shards[0], micro_batch=128)
    sizes = [c.size for c in p._chunks(np.arange(129))]
    assert sizes == [65, 64]
    assert [c.size for c in p._chunks(np.arange(256))] == [128, 128]
    assert np.concatenate(list(p._chunks(np.arange(300)))).tolist() == list(range(300))


def test_augmentation_is_a_padded_crop_and_flip(shards):
    train, _ = shards
    pipe = BatchPipeline(train, torch.Generator().manual_seed(5))
    idx = np.array([0, 3, 3, 7, 11, 29])
    got, targets = pipe.batch(idx, augment=True)
    g = torch.Generator().manual_seed(5)
    oy = torch.randint(0, 9, (6,), generator=g)
    ox = torch.randint(0, 9, (6,), generator=g)
    flip = torch.randint(0, 2, (6,), generator=g)
    mean = np.array(CIFAR10_MEAN, dtype=np.float32)[:, None, None]
    std = np.array(CIFAR10_STD, dtype=np.float32)[:, None, None]
    for k, i in enumerate(idx):
        padded = np.zeros((3, 40, 40), dtype=np.float32)
        padded[:, 4:36, 4:36] = train.x[i]
        crop = padded[:, oy[k] : oy[k] + 32, ox[k] : ox[k] + 32]
        if flip[k]:
            crop = crop[:, :, ::-1]
        expected = (crop / np.float32(255.0) - mean) / std
        np.testing.assert_allclose(got[k].numpy(), expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(targets.numpy(), train.labels[idx])
    plain, _ = pipe.batch(idx, augment=False)
    expected = (train.x[idx].astype(np.float32) / 255.0 - mean) / std
    np.testing.assert_allclose(plain.numpy(), expected, rtol=0, atol=1e-6)


def test_augmentation_streams_differ_by_rank_and_repeat_by_seed():
    a = torch.randint(0, 1000, (5,), generator=augmentation_generator(1, 0))
    b = torch.randint(0, 1000, (5,), generator=augmentation_generator(1, 1))
    c = torch.randint(0, 1000, (5,), generator=augmentation_generator(1, 0))
    assert not torch.equal(a, b) and torch.equal(a, c)


def test_resnet20_has_269722_parameters_and_a_seeded_init():
    model = resnet20(seed=4)
    assert sum(p.numel() for p in model.parameters()) == 269_722
    assert len([m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]) == 19
    same, other = resnet20(seed=4), resnet20(seed=5)
    w = model.blocks[4].conv1.weight
    assert torch.equal(w, same.blocks[4].conv1.weight)
    assert not torch.equal(w, other.blocks[4].conv1.weight)
    fan_in = w.shape[1] * 9  # Kaiming normal, fan-in, ReLU gain: std sqrt(2 / fan_in)
    assert abs(float(w.detach().std()) / np.sqrt(2.0 / fan_in) - 1.0) < 0.05
    out = model(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 10)


def test_state_arrays_resume_bit_for_bit(shards):
    """Two rounds, state saved, two more rounds; a fresh problem loaded with that state and
    the same sampling stream ends at the same bits (momentum, BatchNorm, augmentation)."""
    train, _ = shards

    def rounds(p, rng, k):
        for _ in range(k):
            p.stochastic_grad(p.x, p.sample_batch(rng, 6), p.grad)
            p.apply_step(p.x, p.grad, 0.05)

    kw = {"micro_batch": 4, "momentum": 0.9, "weight_decay": 1e-3}
    a = _problem(train, **kw)
    rng = worker_rng(3, 0)
    rounds(a, rng, 2)
    saved = {k: v.copy() for k, v in a.state_arrays().items()}
    x_saved, rng_state = a.x.copy(), rng.bit_generator.state
    assert set(saved) == {"norm_stats", "norm_batches", "augment_rng", "momentum", "torch_rng"}
    assert saved["augment_rng"].dtype == np.uint8 and saved["norm_batches"].tolist() == [4]
    rounds(a, rng, 2)
    b = _problem(train, **kw)
    b.load_state_arrays({k: v.astype(np.float64) for k, v in saved.items()})  # as stored
    b.x[:] = x_saved
    rng_b = worker_rng(0, 0)
    rng_b.bit_generator.state = rng_state
    rounds(b, rng_b, 2)
    np.testing.assert_array_equal(a.x, b.x)
    for key, value in a.state_arrays().items():
        np.testing.assert_array_equal(value, b.state_arrays()[key])
    with pytest.raises(ValueError, match="checkpoint state momentum"):
        b.load_state_arrays({**saved, "momentum": np.zeros(3, dtype=np.float32)})


def test_evaluation_on_one_rank(shards):
    train, test = shards
    p = _problem(train, eval_rows=10, micro_batch=3)
    p.stochastic_grad(p.x, np.arange(6), p.grad)
    grad_before = p.grad.copy()
    ev = TorchEvaluator(p, Communicator(), test_shard=test)(p.x)
    np.testing.assert_array_equal(p.grad, grad_before)  # the loop's gradient survives
    assert ev.eval_rows == 10 and p.eval_idx.tolist() == list(range(10))
    p.model.eval()
    with torch.no_grad():
        inputs, targets = p.pipeline.batch(np.arange(10), augment=False)
        ref = float(torch.nn.functional.cross_entropy(p.model(inputs), targets))
        t_in, t_y = BatchPipeline(test, p.generator).batch(np.arange(7), augment=False)
        t_out = p.model(t_in)
    assert ev.objective == pytest.approx(ref, rel=1e-5)
    assert ev.test_loss == pytest.approx(
        float(torch.nn.functional.cross_entropy(t_out, t_y)), rel=1e-5
    )
    assert ev.test_accuracy == pytest.approx(float((t_out.argmax(1) == t_y).float().mean()))
    assert ev.grad_norm_sq > 0


def test_a_users_model_with_its_own_loss_on_tabular_rows():
    rng = np.random.default_rng(0)
    shard = ImageShard(
        rng.standard_normal((20, 5)).astype(np.float32), rng.integers(0, 2, 20), 20, 2, "t"
    )
    cfg = _cfg(model="tests.torch_models:tabular_with_loss")
    p = build_torch_problem(cfg, Communicator(), TorchData(shard, 20))
    assert p.own_loss and p.dim == 12 and not p.augment
    p.stochastic_grad(p.x, np.arange(20), p.grad)
    weight = torch.from_numpy(p.x[:10].reshape(2, 5).copy()).requires_grad_()
    bias = torch.from_numpy(p.x[10:].copy()).requires_grad_()
    out = torch.from_numpy(shard.x) @ weight.T + bias
    torch.nn.functional.cross_entropy(out, torch.from_numpy(shard.labels)).backward()
    np.testing.assert_allclose(p.grad[:10], weight.grad.numpy().ravel(), rtol=1e-5, atol=1e-7)
    again = build_torch_problem(
        _cfg(model="tests.torch_models:random_init_unseeded"),
        Communicator(),
        TorchData(shard, 20),
    )
    twice = build_torch_problem(
        _cfg(model="tests.torch_models:random_init_unseeded"),
        Communicator(),
        TorchData(shard, 20),
    )
    np.testing.assert_array_equal(again.x, twice.x)  # the build runs under the seed


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"model": "no_such_pkg.mod:build"},
            r"--model=no_such_pkg.mod:build: cannot import no_such_pkg.mod",
        ),
        ({"model": "tests.torch_models:absent"}, r"has no callable 'absent'"),
        (
            {"model": "tests.torch_models:not_a_module"},
            r"not_a_module\(\) returned str, not a torch.nn.Module",
        ),
        (
            {"model": "tests.torch_models:failing"},
            r"failing\(\) failed: RuntimeError: cannot build",
        ),
        ({"model": "resnet21"}, r"--model=resnet21: not a built-in model"),
        (
            {"model": "tests.torch_models:expects_five_features"},
            r"does not fit the data .*samples of shape \(3, 32, 32\)",
        ),
        ({"micro_batch": 0}, r"--micro-batch=0: must be >= 1"),
        ({"momentum": 1.0}, r"--momentum=1.0: must be in \[0, 1\)"),
        ({"device": "tpu"}, r"--device=tpu: expected cpu or cuda"),
    ],
)
def test_bad_input_is_one_usage_error(shards, changes, message):
    with pytest.raises(UsageError, match=message):
        build_torch_problem(
            _cfg(**changes), Communicator(), TorchData(shards[0], shards[0].n_total, shards[1])
        )


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: cuda is valid here")
def test_cuda_without_a_gpu_is_a_usage_error(shards):
    with pytest.raises(UsageError, match="--device=cuda: no CUDA device is available"):
        build_torch_problem(
            _cfg(device="cuda"), Communicator(), TorchData(shards[0], shards[0].n_total, shards[1])
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here: cuda staging untested")
def test_a_cuda_round_matches_the_cpu_round(shards):
    train, _ = shards
    cpu = _problem(train, torch_models.cnn_without_norm, augment=False)
    gpu = _problem(train, torch_models.cnn_without_norm, augment=False, device="cuda")
    for p in (cpu, gpu):
        p.stochastic_grad(p.x, np.arange(10), p.grad)
        p.apply_step(p.x, p.grad, 0.1)
    np.testing.assert_allclose(gpu.x, cpu.x, rtol=1e-4, atol=1e-6)


def test_tabular_and_separate_test_sources(tmp_path, shards):
    one = Communicator()
    cfg = _cfg(data="synthetic:n=50,d=5,seed=1", model="tests.torch_models:tabular_with_loss")
    data = load_torch_data(cfg, one)
    assert data.train.x.dtype == np.float32 and data.train.x.shape == (50, 5)
    assert set(np.unique(data.train.labels)) <= {0, 1} and data.n_total == 50
    assert build_torch_problem(cfg, one, data).n_local == 50
    written = write_random_cifar(tmp_path / "c", test_rows=3)
    other = write_random_cifar(tmp_path / "d", test_rows=5, seed=9)
    for test_data, images in (
        (f"cifar10:{tmp_path / 'd'}", other["test"][0]),
        (str(tmp_path / "d" / "test_batch.bin"), other["test"][0]),
        (None, written["test"][0]),
    ):
        got = load_torch_data(_cfg(data=f"cifar10:{tmp_path / 'c'}", test_data=test_data), one)
        np.testing.assert_array_equal(got.test.x, images)
