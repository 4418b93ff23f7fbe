"""The round Allreduce on float32 buffers (torch models) as well as float64."""

import numpy as np
import pytest
from mpi4py import MPI

from crpsgd.comm.communicator import Communicator


@pytest.fixture
def comm():
    return Communicator(MPI.COMM_WORLD.Dup())


def test_a_float32_round_stays_float32_with_its_control_slot(comm):
    buf = (np.arange(5) + comm.rank).astype(np.float32)
    comm.allreduce_mean_(buf)
    assert buf.dtype == np.float32
    expected = np.arange(5, dtype=np.float32) + np.float32((comm.size - 1) / 2)
    np.testing.assert_array_equal(buf, expected)
    assert comm.stats.rounds == 1 and comm.stats.round_bytes == 6 * 4
    comm.stop_requested = comm.rank == 0
    comm.allreduce_mean_(buf)
    assert comm.stop_agreed


def test_float32_and_float64_rounds_alternate(comm):
    """The work buffer follows the dtype; the float64 mean is the plain sum / N."""
    rng = np.random.default_rng(comm.rank)
    x64 = rng.standard_normal(7)
    parts = comm.comm.allgather(x64.copy())
    comm.allreduce_mean_(x64)
    ref = parts[0].copy()
    for part in parts[1:]:
        ref += part
    np.testing.assert_array_equal(x64, ref / comm.size)
    x32 = np.ones(7, dtype=np.float32)
    comm.allreduce_mean_(x32)
    np.testing.assert_array_equal(x32, np.ones(7, dtype=np.float32))
    assert comm.stats.round_bytes == 8 * 8 + 8 * 4


def test_other_buffers_are_refused(comm):
    with pytest.raises(TypeError, match="float64 or float32"):
        comm.allreduce_mean_(np.arange(3))
    with pytest.raises(TypeError, match="non-contiguous"):
        comm.allreduce_mean_(np.zeros(6)[::2])
    assert comm.stats.rounds == 0
