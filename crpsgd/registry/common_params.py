"""The parameters of every run, whatever its parts: data, budget, step size and its rule,
``f*``, seed, evaluation spacing, outputs and run control (:data:`COMMON_PARAMS`). Each
registered part adds its own (:mod:`crpsgd.registry.parts`)."""

from __future__ import annotations

from crpsgd.errors import UsageError
from crpsgd.params import Param, above_one, at_least, positive


def _fractions_error(text: str) -> str | None:
    from crpsgd.schedules.step_size import parse_fractions

    try:
        parse_fractions(text)
    except UsageError as exc:
        return str(exc).split(": ", 1)[-1]
    return None


#: Parameters of every run, whatever the parts; each part declares its own (crpsgd.registry.parts).
COMMON_PARAMS: tuple[Param, ...] = (
    Param("problem", str, "logreg", "objective (see the groups below)"),
    Param("algo", str, "cr-psgd", "algorithm (see the groups below)"),
    Param(
        "data",
        str,
        "synthetic",
        "training data: LIBSVM text, crpsgd HDF5, synthetic[:n=..,d=..,seed=..], or "
        "cifar10:DIR (CIFAR-10's binary files in DIR, --problem torch), or pkg.module:fn / "
        "path/file.py:fn (fn() returns a torch Dataset, (X, y) or (train, test); --problem torch)",
    ),
    Param("test_data", str, None, "test data (same formats) for test accuracy"),
    Param(
        "n_features",
        int,
        None,
        "feature count d (LIBSVM files may not use the last ones)",
        check=at_least(1),
    ),
    Param("dense", bool, False, "hold LIBSVM/HDF5-CSR data as a dense matrix"),
    Param(
        "T",
        int,
        10000,
        "SFO budget of each worker (stochastic gradients of one sample)",
        check=at_least(1),
    ),
    Param(
        "gamma",
        float,
        "auto",
        "step size gamma, or 'auto' = 1/L of the problem's smoothness bound (or the "
        "algorithm's own rule, see --algo)",
        special=("auto",),
        check=positive,
    ),
    Param(
        "fstar",
        float,
        "none",
        "optimal value f* for suboptimality: a number, 'auto' (distributed Newton solve) or 'none'",
        special=("auto", "none"),
    ),
    Param(
        "fstar_cache",
        str,
        "user",
        "where --fstar auto keeps its solution: user (the user cache directory, $CRPSGD_CACHE "
        "or ~/.cache/crpsgd) or beside-data (a file next to the data when writable, else user)",
        ("user", "beside-data"),
    ),
    Param(
        "backend",
        str,
        "mpi",
        "collectives of the rounds: mpi (mpi4py) or torch (torch.distributed: gloo, NCCL "
        "with --device cuda; needs PyTorch; started by mpiexec or torchrun)",
        ("mpi", "torch"),
    ),
    Param("seed", int, 0, "master seed of all random streams", check=at_least(0)),
    Param(
        "eval_factor",
        float,
        1.25,
        "evaluate when SFO per worker grew by this factor",
        check=above_one,
    ),
    Param("out", str, None, "HDF5 run log [default: runs/<algo>-N<ranks>-seed<seed>.h5]"),
    Param("overwrite", bool, False, "replace an existing --out file"),
    Param("quiet", bool, False, "no progress lines, only the final summary"),
    Param(
        "checkpoint_every",
        int,
        0,
        "write a checkpoint every K rounds (0: only when stopped by SIGTERM/SIGUSR1)",
        check=at_least(0),
    ),
    Param("checkpoint", str, None, "checkpoint file [default: <out stem>.ckpt.h5 beside the log]"),
    Param(
        "check_sync",
        int,
        0,
        "every K rounds, check that all ranks hold the same iterate (0: never)",
        check=at_least(0),
    ),  # the step-size rule (crpsgd.schedules.step_size), for every problem and algorithm
    Param(
        "lr_schedule",
        str,
        "constant",
        "step size per round: constant, or step (x decay-factor at each decay-at fraction of T)",
        ("constant", "step"),
    ),
    Param(
        "decay_at",
        str,
        "0.5,0.75",
        "fractions of T (SFO per worker) where --lr-schedule step decays",
        check=lambda v: _fractions_error(v),
    ),
    Param("decay_factor", float, 0.1, "factor of each step decay", check=at_least(0.0)),
    Param(
        "warmup",
        int,
        0,
        "linear step-size warm-up over this many SFO per worker (0: none)",
        check=at_least(0),
    ),
    Param(
        "warmup_start",
        float,
        0.1,
        "warm-up starts at this fraction of the step size",
        check=lambda v: None if 0.0 <= v <= 1.0 else "must be in [0, 1]",
    ),
)
