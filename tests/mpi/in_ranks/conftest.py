"""Tests in this folder run on one rank (plain pytest) and on several, under
``mpiexec -n K python -m pytest tests/mpi/in_ranks`` (see ``tests/mpi/test_mpi_suite.py``). A
failure on any rank aborts every rank, so a failing test never leaves the others waiting in a
collective.
"""

import sys

import pytest
from mpi4py import MPI


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report):
    if report.failed and MPI.COMM_WORLD.Get_size() > 1:
        rank = MPI.COMM_WORLD.Get_rank()
        print(f"\n[rank {rank}] {report.nodeid} failed:\n{report.longreprtext}", file=sys.stderr)
        sys.stderr.flush()
        MPI.COMM_WORLD.Abort(1)
