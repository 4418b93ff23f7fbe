"""One CR-PSGD round of a torch problem on every rank (run under mpiexec by
tests/mpi/test_torch_mpi.py): ``python tests/torch_round_script.py DATA_DIR OUT_DIR``.

Each rank saves to OUT_DIR/rank<r>.npz its initial parameters, its own minibatch gradient,
the parameters after the round (Allreduce + momentum update), its BatchNorm statistics
before and after :meth:`before_evaluation`, and the evaluation's values.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crpsgd.comm.communicator import Communicator  # noqa: E402
from crpsgd.data.rng import worker_rng  # noqa: E402
from crpsgd.torchprob.build import TORCH_PARAMS, build_torch_problem, load_torch_data  # noqa: E402
from crpsgd.torchprob.evaluate import TorchEvaluator  # noqa: E402

SEED, BATCH, GAMMA = 7, 6, 0.1


def config(data_dir: str) -> dict:
    cfg = {p.name: p.default for p in TORCH_PARAMS}
    cfg.update(
        data=f"cifar10:{data_dir}",
        test_data=None,
        seed=SEED,
        T=100,
        model="tests.torch_models:small_cnn",
        micro_batch=4,
        momentum=0.9,
        eval_rows=8,
    )
    return cfg


def main(data_dir: str, out_dir: str) -> None:
    comm = Communicator()
    cfg = config(data_dir)
    data = load_torch_data(cfg, comm)
    problem = build_torch_problem(cfg, comm, data)
    x, grad = problem.x, problem.grad
    x0 = x.copy()
    rng = worker_rng(SEED, comm.rank)
    problem.stochastic_grad(x, problem.sample_batch(rng, BATCH), grad)
    local_grad = grad.copy()
    comm.allreduce_mean_(grad)
    problem.apply_step(x, grad, GAMMA)
    stats_before = problem.flat.norm_stats.numpy().copy()
    ev = TorchEvaluator(problem, comm, None, data.test)(x)
    np.savez(
        Path(out_dir) / f"rank{comm.rank}.npz",
        x0=x0,
        local_grad=local_grad,
        x1=x,
        stats_before=stats_before,
        stats_after=problem.flat.norm_stats.numpy(),
        evaluation=np.array([ev.objective, ev.test_loss, ev.test_accuracy, ev.grad_norm_sq]),
        rounds=np.array([comm.stats.rounds, comm.stats.eval_calls]),
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
