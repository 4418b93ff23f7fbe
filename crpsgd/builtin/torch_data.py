"""Data source ``callable``: ``--data pkg.module:fn`` or ``--data path/file.py:fn`` (and
``--test-data`` likewise), for ``--problem torch``.

``fn()`` returns what :func:`crpsgd.torch.train` takes as data: a map-style
``torch.utils.data.Dataset`` of ``(input, target)`` pairs, a pair ``(X, y)`` of arrays or
tensors, or a pair ``(train, test)`` of those (then ``--test-data`` is left out). It goes
through the same :class:`~crpsgd.torch.data.ObjectData` as ``train()``'s data: rank ``r``
keeps its contiguous shard; inputs reach the model as the data gives them (the dataset
brings its own transforms; nothing of CIFAR-10's normalisation or augmentation applies).

Every rank calls ``fn()`` once, with torch's and NumPy's global generators seeded with 0
(their states restored afterwards), so that data drawn at random is the same on every
rank. A failure of ``fn`` (an exception, ``sys.exit``) is one message naming the flag,
exit status 2. The log records kind ``callable``, the spec as the path and the sha256 of
the spec and of the file that defines it (a resumed run refuses an edited file).

Nothing here imports torch at module import: without PyTorch the other sources work.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from typing import Any

from crpsgd.data.sources import DataSource, register_source
from crpsgd.errors import UsageError
from crpsgd.torchprob.usercode import import_callable, is_file_spec, is_spec, user_code

DATA_SEED = 0  # the global generators' seed while fn() runs (the same data on every rank)


def is_callable_spec(value: str) -> bool:
    """``pkg.module:fn`` or ``path/file.py:fn`` that is not itself an existing file."""
    return is_spec(value) and not os.path.exists(value)


def _defining_file(spec: str) -> str | None:
    where = spec.rpartition(":")[0]
    if is_file_spec(spec):
        return where
    try:
        found = importlib.util.find_spec(where)
    except (ImportError, ValueError):
        return None
    return found.origin if found is not None and found.has_location else None


def identity(spec: str) -> dict[str, str]:
    """``{"path": spec, "sha256", "kind": "callable"}``: the digest of the spec and of the
    bytes of the file defining ``fn`` (of the spec alone when Python cannot find it)."""
    digest = hashlib.sha256(spec.encode("utf-8"))
    path = _defining_file(spec)
    if path is not None and os.path.isfile(path):
        with open(path, "rb") as f:
            digest.update(f.read())
    return {"path": spec, "sha256": digest.hexdigest(), "kind": "callable"}


def _call(spec: str, flag: str) -> Any:
    """``fn()`` of ``spec`` under the seeded global generators, inside the user-code guard."""
    import numpy as np
    import torch

    saved = np.random.get_state()  # noqa: NPY002  (the user's fn may draw from the global one)
    try:
        with torch.random.fork_rng(devices=[]), user_code(f"{flag}={spec}: {spec}() failed"):
            torch.manual_seed(DATA_SEED)
            np.random.seed(DATA_SEED)  # noqa: NPY002
            return import_callable(spec)()
    finally:
        np.random.set_state(saved)  # noqa: NPY002


def _split(result: Any, spec: str, flag: str) -> tuple[Any, Any]:
    """``(train, test or None)`` of what ``fn()`` returned (a pair of datasets is split)."""
    from crpsgd.torch.data import is_array_pair

    if isinstance(result, tuple) and len(result) == 2 and not is_array_pair(result):
        return result
    if result is None:
        raise UsageError(f"{flag}={spec}: returned None, not a Dataset, (X, y) or (train, test)")
    return result, None


def load_shards(source: str, rank: int, size: int, test: str | None) -> tuple[Any, Any]:
    """This rank's shards of ``--data=source`` and of the test data (see the docstring)."""
    from crpsgd.torch.data import ObjectData

    train, test_obj = _split(_call(source, "--data"), source, "--data")
    test_flag = f"--data={source}"
    if test is not None:
        if test_obj is not None:
            raise UsageError(
                f"--test-data={test}: --data={source} returned (train, test) already; "
                "leave --test-data out or return the training data alone"
            )
        if not is_callable_spec(test):
            raise UsageError(
                f"--test-data={test}: with --data={source} the test data is a callable too "
                "(pkg.module:fn or path/file.py:fn)"
            )
        test_obj, extra = _split(_call(test, "--test-data"), test, "--test-data")
        if extra is not None:
            raise UsageError(f"--test-data={test}: returned a pair (train, test), not test data")
        test_flag = f"--test-data={test}"
    shard = ObjectData(train, f"--data={source}").shard(rank, size)
    if test_obj is None:
        return shard, None
    name = test_flag if test is not None else f"{test_flag} (its test half)"
    return shard, ObjectData(test_obj, name).shard(rank, size)


register_source(
    DataSource(
        "callable",
        "pkg.module:fn or path/file.py:fn: fn() returns a torch Dataset of (input, target), "
        "(X, y) arrays or a pair (train, test) of them (--problem torch)",
        claims=is_callable_spec,
        identity=identity,
        names_a_file=False,
        same=lambda a, b: a == b,
        layout="objects",
        load_shards=load_shards,
    )
)
