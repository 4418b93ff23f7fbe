"""A torch round under ``mpiexec -n 2``: parameters bit-identical on both ranks and equal to
a serial recomputation of the averaged step; BatchNorm statistics averaged before an
evaluation; the evaluation equals a serial one of the averaged model."""

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from crpsgd.data.rng import worker_rng  # noqa: E402
from crpsgd.torchprob.build import build_torch_problem, load_torch_data  # noqa: E402
from crpsgd.torchprob.pipeline import BatchPipeline  # noqa: E402
from tests.cifar_files import write_random_cifar  # noqa: E402
from tests.conftest import run_mpi  # noqa: E402
from tests.torch_round_script import BATCH, GAMMA, SEED, config  # noqa: E402

pytestmark = pytest.mark.mpi


def test_one_round_on_two_ranks_is_the_serial_averaged_step(tmp_path):
    data = tmp_path / "data"
    write_random_cifar(data, rows=(4, 4, 4, 4, 4), test_rows=6)
    proc = run_mpi(2, ["tests/torch_round_script.py", str(data), str(tmp_path)], timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    np.testing.assert_array_equal(ranks[0]["x0"], ranks[1]["x0"])  # the same initial model
    np.testing.assert_array_equal(ranks[0]["x1"], ranks[1]["x1"])  # and after the round
    # one round; BatchNorm averaging and the evaluation are two evaluation collectives
    assert ranks[0]["rounds"].tolist() == [1, 2]

    cfg = config(str(data))
    grads, stats = [], []
    for r in range(2):  # the two workers, one after the other in this process
        fake = SimpleNamespace(rank=r, size=2)
        problem = build_torch_problem(cfg, fake, load_torch_data(cfg, fake))
        np.testing.assert_array_equal(problem.x, ranks[r]["x0"])
        idx = problem.sample_batch(worker_rng(SEED, r), BATCH)
        problem.stochastic_grad(problem.x, idx, problem.grad)
        np.testing.assert_array_equal(problem.grad, ranks[r]["local_grad"])
        grads.append(problem.grad.copy())
        stats.append(problem.flat.norm_stats.numpy().copy())
        np.testing.assert_array_equal(stats[-1], ranks[r]["stats_before"])
    mean = grads[0] + grads[1]
    mean /= np.float32(2)
    serial = ranks[0]["x0"].copy()
    problem.update.velocity[:] = 0
    problem.apply_step(serial, mean, GAMMA)  # the first momentum step from v = 0
    np.testing.assert_array_equal(ranks[0]["x1"], serial)
    assert not np.array_equal(stats[0], stats[1])  # each rank's own batch statistics
    averaged = ((stats[0].astype(np.float64) + stats[1]) / 2).astype(np.float32)
    for r in range(2):
        np.testing.assert_array_equal(ranks[r]["stats_after"], averaged)
    np.testing.assert_array_equal(ranks[0]["evaluation"], ranks[1]["evaluation"])

    # the evaluation equals the serial evaluation of the averaged model on the whole sets
    one = SimpleNamespace(rank=0, size=1)
    single_data = load_torch_data(cfg, one)
    single = build_torch_problem(cfg, one, single_data)
    single.x[:] = serial
    single.flat.norm_stats.copy_(torch.from_numpy(averaged))
    single.model.eval()
    with torch.no_grad():
        rows = np.r_[0:4, 10:14]  # the first eval_rows/2 rows of each rank's shard of 20
        inputs, targets = single.pipeline.batch(rows, augment=False)
        train_loss = float(torch.nn.functional.cross_entropy(single.model(inputs), targets))
        t_in, t_y = BatchPipeline(single_data.test, single.generator).batch(
            np.arange(6), augment=False
        )
        test_out = single.model(t_in)
    objective, test_loss, accuracy, _ = ranks[0]["evaluation"]
    assert objective == pytest.approx(train_loss, rel=1e-5)
    assert test_loss == pytest.approx(
        float(torch.nn.functional.cross_entropy(test_out, t_y)), rel=1e-5
    )
    assert accuracy == pytest.approx(float((test_out.argmax(1) == t_y).float().mean()))
