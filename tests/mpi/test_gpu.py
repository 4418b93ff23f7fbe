"""On a CUDA GPU: a small shard lives on the device and gives the CPU's batches; ``--amp
bf16`` autocasts the training forward pass; ``--backend torch`` (NCCL) gives the iterates of
``--backend mpi``. Skipped without a GPU (``bench/gpu_check.sh`` runs them where there is one)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from crpsgd.data.images import cifar10_shards  # noqa: E402
from crpsgd.runlog import read_run  # noqa: E402
from crpsgd.torchprob.pipeline import BatchPipeline  # noqa: E402
from crpsgd.torchprob.problem import TorchProblem, augmentation_generator  # noqa: E402
from tests import torch_models  # noqa: E402
from tests.cifar_files import write_random_cifar  # noqa: E402
from tests.conftest import run_cli  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
ROWS = np.array([0, 3, 3, 7, 11, 12, 20, 29], dtype=np.int64)


@pytest.fixture
def data_dir(tmp_path):
    write_random_cifar(tmp_path, rows=(6, 6, 6, 6, 6), test_rows=7)
    return tmp_path


def test_a_small_shard_lives_on_the_gpu_and_gives_the_cpus_batches(data_dir):
    train = cifar10_shards(f"cifar10:{data_dir}", 0, 1)[0]
    gpu = BatchPipeline(train, augmentation_generator(5, 0), "cuda")
    cpu = BatchPipeline(train, augmentation_generator(5, 0), "cpu")
    assert gpu.on_device and gpu._x.device.type == "cuda"
    for augment in (True, False):
        xg, yg = gpu.batch(ROWS, augment)
        xc, yc = cpu.batch(ROWS, augment)
        assert xg.device.type == "cuda" and yg.device.type == "cuda"
        torch.testing.assert_close(xg.cpu(), xc, rtol=1e-6, atol=1e-6)
        assert torch.equal(yg.cpu(), yc)


def test_amp_bf16_autocasts_the_training_forward_on_the_gpu(data_dir):
    train = cifar10_shards(f"cifar10:{data_dir}", 0, 1)[0]
    grads = {}
    for amp in ("off", "bf16"):
        torch.manual_seed(0)
        p = TorchProblem(
            torch_models.cnn_without_norm(),
            train,
            rank=0,
            size=1,
            seed=3,
            augment=False,
            device="cuda",
            amp=amp,
        )
        p.stochastic_grad(p.x, ROWS, p.grad)
        grads[amp] = p.grad.copy()
    torch.manual_seed(0)
    model = torch_models.cnn_without_norm().cuda()
    inputs, targets = p.pipeline.batch(ROWS, augment=False)
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
        out = model(inputs)
        loss = torch.nn.functional.cross_entropy(out, targets)
    assert out.dtype == torch.bfloat16
    loss.backward()
    by_hand = torch.cat([q.grad.reshape(-1) for q in model.parameters()]).cpu().numpy()
    np.testing.assert_allclose(grads["bf16"], by_hand, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(grads["bf16"], grads["off"])
    assert np.linalg.norm(grads["bf16"] - grads["off"]) < 0.05 * np.linalg.norm(grads["off"])


def test_nccl_backend_gives_the_iterates_of_mpi_on_the_gpu(tmp_path):
    # a linear network: cuBLAS's products are deterministic, cuDNN's convolutions need not be
    runs = {}
    for backend in ("mpi", "torch"):
        out = tmp_path / f"{backend}.h5"
        proc = run_cli(
            [
                *("run", "--problem", "torch", "--model", "tests.torch_models:mlp_five_features"),
                *("--data", "synthetic:n=200,d=5,seed=2", "--device", "cuda", "--amp", "bf16"),
                *("--algo", "psgd", "--batch", "8", "--T", "64", "--gamma", "0.2"),
                *("--eval-rows", "50", "--backend", backend, "--out", str(out), "--quiet"),
            ],
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[backend] = read_run(out)
    np.testing.assert_array_equal(runs["torch"].x, runs["mpi"].x)
    assert runs["torch"].attrs["backend"] == "torch.distributed (nccl)"
    assert runs["mpi"].config["amp"] == "bf16"
