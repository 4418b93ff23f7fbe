"""What the registered part ``--problem torch`` needs: its parameters, its data loader and
its builder. Nothing here imports torch at module import; :func:`build_torch_problem`
imports it (after :func:`~crpsgd.torchprob.require_torch`).

Data: ``--data cifar10:DIR`` (training files of DIR, test ``DIR/test_batch.bin`` unless
``--test-data`` names a ``cifar10:DIR2`` or one ``.bin`` file), any source that gives shards
itself (a user's ``Dataset``: ``--data pkg.module:fn``, :mod:`crpsgd.builtin.torch_data`), or
any tabular source of :func:`crpsgd.data.loader.load_shard` (held dense as float32, classes
0/1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crpsgd.comm.communicator import Communicator
from crpsgd.data.images import ImageShard, from_dataset
from crpsgd.data.in_process import is_in_process, lookup
from crpsgd.data.loader import load_shard
from crpsgd.data.sources import source_of
from crpsgd.errors import UsageError
from crpsgd.params import Param, all_of, at_least, at_most
from crpsgd.params.limits import check_parameter_count
from crpsgd.torchprob import require_torch
from crpsgd.torchprob.usercode import is_spec

#: ``--optimizer`` by name (besides a factory ``pkg.module:fn``); ``plain``: crpsgd's own step.
OPTIMIZERS = ("plain", "sgd", "adam", "adamw")


def _optimizer_error(value: str) -> str | None:
    if value in OPTIMIZERS or is_spec(value):
        return None
    return f"not {', '.join(OPTIMIZERS)} nor a factory pkg.module:fn or path/file.py:fn"


TORCH_PARAMS: tuple[Param, ...] = (
    Param("model", str, "resnet20", "torch: resnet20 or pkg.module:build (returns a Module)"),
    Param(
        "micro_batch",
        int,
        128,
        "torch: largest chunk of a minibatch in one forward/backward (gradients accumulate; "
        "BatchNorm's ghost batch); with --noise-source samples at least 2 chunks per batch",
        check=at_least(1),
    ),
    Param(
        "momentum",
        float,
        0.0,
        "heavy-ball momentum in [0, 1) of the torch update, or of DiLoCo's inner SGD steps "
        "(0 = the paper's plain update)",
        check=lambda v: None if 0.0 <= v < 1.0 else "must be in [0, 1)",
    ),
    Param(
        "weight_decay",
        float,
        0.0,
        "weight decay of the torch update, or of DiLoCo's inner steps",
        check=at_least(0),
    ),
    Param(
        "optimizer",
        str,
        "plain",
        "torch: the step after the round's Allreduce: plain (the paper's x - gamma g, with "
        "--momentum/--weight-decay), sgd (torch.optim.SGD, lr gamma, --momentum, "
        "--weight-decay), adam or adamw (torch's defaults, lr gamma, --weight-decay if > 0), "
        "or pkg.module:fn / path/file.py:fn (a factory params -> torch.optim.Optimizer)",
        check=_optimizer_error,
    ),
    Param(
        "augment",
        str,
        "standard",
        "torch: augmentation of cifar10:DIR images: standard (pad 4, crop, flip) or none "
        "(other data, a Dataset of yours included, goes to the model as it is)",
        ("standard", "none"),
    ),
    Param(
        "eval_rows",
        int,
        10000,
        "torch: size of the fixed training subset evaluated",
        check=at_least(1),
    ),
    Param(
        "threads",
        int,
        1,
        "torch: intra-op threads per rank",
        check=all_of(at_least(1), at_most(2**16, "2^16: a thread count torch can hold")),
    ),
    Param("device", str, "cpu", "torch: cpu or cuda", ("cpu", "cuda")),
    Param(
        "amp",
        str,
        "off",
        "torch: the training forward pass in bfloat16 (torch.autocast; on a CPU too) or off",
        ("off", "bf16"),
    ),
)


@dataclass(frozen=True)
class TorchData:
    """This rank's training shard, the row count of all shards and the test shard (or None);
    the fields of the registry's ``LoadedData``, in its order."""

    train: ImageShard
    n_total: int
    test: ImageShard | None = None


def load_torch_data(cfg: dict[str, Any], comm: Communicator) -> TorchData:
    """This rank's rows of ``--data`` (and of the test set), read by this rank only."""
    reader = source_of(cfg["data"])
    if reader.load_shards is not None:
        train, test = reader.load_shards(cfg["data"], comm.rank, comm.size, cfg.get("test_data"))
        return TorchData(train, train.n_total, test)
    shard, n_total = load_shard(cfg["data"], comm.rank, comm.size, cfg.get("n_features"), True)
    test = None
    if cfg.get("test_data") is not None:
        t, t_total = load_shard(
            cfg["test_data"], comm.rank, comm.size, cfg.get("n_features") or shard.n_features, True
        )
        test = from_dataset(t, t_total, cfg["test_data"])
    return TorchData(from_dataset(shard, n_total, cfg["data"]), n_total, test)


def build_torch_problem(cfg: dict[str, Any], comm: Communicator, data: TorchData):
    """The :class:`~crpsgd.torchprob.problem.TorchProblem` of ``cfg`` on this rank.

    Raises the one :class:`UsageError` of a missing PyTorch, a bad ``--model``, a model of
    more than 2^28 parameters (checked before its flat buffers exist), a model that does not
    fit the data, ``--device cuda`` without a GPU, or a bad parameter value. The problem's
    ``identity`` is the model's (:mod:`crpsgd.torchprob.identity`), checked at ``--resume``.
    The loss: the model's own, else cross-entropy for class numbers and :func:`mse_loss`
    for float targets. An in-process model (``crpsgd.torch.train``) is a record whose
    ``loss`` replaces those and whose ``attach(problem, cfg, comm)`` installs its optimizer.
    """
    require_torch()
    from torch.nn.parameter import is_lazy

    from crpsgd.torchprob.device import resolve_device
    from crpsgd.torchprob.fit_check import check_test_fits
    from crpsgd.torchprob.identity import model_identity
    from crpsgd.torchprob.models import mse_loss, resolve_model
    from crpsgd.torchprob.problem import TorchProblem
    from crpsgd.torchprob.state_file import check_state_file

    device = resolve_device(cfg["device"])
    model, loss = resolve_model(cfg["model"], cfg["seed"], data.train.n_classes)
    record = lookup(cfg["model"]) if is_in_process(cfg["model"]) else None
    origin = record.origin if record is not None else f"--model={cfg['model']}"
    if record is not None and record.loss is not None:
        loss = record.loss
    if loss is None and not data.train.n_classes:  # float targets: regression
        loss = mse_loss
    lazy = [name for name, p in model.named_parameters() if is_lazy(p)]
    if lazy:
        raise UsageError(
            f"{origin}: the module has uninitialised (lazy) parameters ({', '.join(lazy[:3])}"
            f"{', ...' if len(lazy) > 3 else ''}): give LazyLinear/LazyConv their sizes, or "
            "run one forward pass inside the build"
        )
    check_parameter_count(sum(p.numel() for p in model.parameters()), origin)
    identity = model_identity(model, cfg["model"])
    problem = TorchProblem(
        model,
        data.train,
        rank=comm.rank,
        size=comm.size,
        seed=cfg["seed"],
        loss=loss,
        micro_batch=cfg["micro_batch"],
        momentum=cfg["momentum"],
        weight_decay=cfg["weight_decay"],
        augment=cfg["augment"] == "standard",
        eval_rows=cfg["eval_rows"],
        threads=cfg["threads"],
        device=device,
        amp=cfg["amp"],
        model_name=cfg["model"],
        origin=origin,
        loss_origin=record.loss_origin if record is not None else None,
    )
    problem.identity = identity
    # <out stem>.pt, before any round (by the rank that writes it; none for a bare rank record)
    check_state_file(cfg, bool(getattr(comm, "is_root", False)))
    if data.test is not None:  # its targets too fit the model, before any round
        check_test_fits(problem, data.test)
    if record is not None:  # its optimizer, its outputs
        record.attach(problem, cfg, comm)
    return problem
