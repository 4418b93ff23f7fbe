"""Run the rank-agnostic tests of ``tests/mpi/in_ranks`` under 2 and 4 MPI ranks."""

import pytest

from tests.conftest import run_mpi

pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("n", [2, 4])
def test_mpi_suite(n):
    args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/mpi/in_ranks"]
    proc = run_mpi(n, args, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "passed" in proc.stdout and "failed" not in proc.stdout
