"""Which communicator ``--backend`` gives (:mod:`crpsgd.session.backend`), and its refusals:
``torch`` without PyTorch, ``mpi`` in a job that torchrun started."""

from types import SimpleNamespace

import pytest

from crpsgd.errors import UsageError
from crpsgd.session import backend


def test_mpi_keeps_the_mpi_communicator():
    comm = SimpleNamespace(backend="mpi")
    assert backend.communicator_for({"backend": "mpi"}, comm) is comm


def test_torch_without_pytorch_is_one_message(monkeypatch):
    monkeypatch.setattr(backend.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UsageError) as err:
        backend.communicator_for({"backend": "torch"}, SimpleNamespace(backend="mpi"))
    assert str(err.value) == (
        "--backend=torch: PyTorch is not installed (pip install crpsgd[torch]); use --backend mpi"
    )


def test_a_torch_communicator_is_kept_and_mpi_is_refused_under_it():
    comm = SimpleNamespace(backend="torch.distributed (gloo)")
    assert backend.communicator_for({"backend": "torch"}, comm) is comm
    with pytest.raises(UsageError, match="started by torchrun.*use --backend torch"):
        backend.communicator_for({"backend": "mpi"}, comm)
