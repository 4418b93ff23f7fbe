"""More ranks than cores: ``crpsgd run`` sets MPICH's progress throttle before MPI starts."""

import os
import subprocess
import sys

import pytest

from crpsgd.session import launch
from tests.conftest import ROOT, mpiexec


def test_local_ranks_from_each_launcher():
    assert launch.local_ranks({}) is None
    assert launch.local_ranks({"MPI_LOCALNRANKS": "4", "PMI_SIZE": "8"}) == 4
    assert launch.local_ranks({"OMPI_COMM_WORLD_LOCAL_SIZE": "3"}) == 3
    assert launch.local_ranks({"SLURM_TASKS_PER_NODE": "16(x2),8"}) == 16
    assert launch.local_ranks({"PMI_SIZE": "5"}) == 5


def test_throttle_only_when_ranks_outnumber_cores(monkeypatch):
    monkeypatch.setattr(launch, "cores", lambda: 2)
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)
    env = {"MPI_LOCALNRANKS": "2"}
    assert (
        launch.throttle_if_oversubscribed(env) == {}
        and "MPIR_CVAR_CH4_PROGRESS_THROTTLE" not in env
    )
    env = {"MPI_LOCALNRANKS": "4"}
    assert launch.throttle_if_oversubscribed(env) == launch.THROTTLE
    assert env["MPIR_CVAR_CH4_PROGRESS_THROTTLE"] == "1"
    env = {"MPI_LOCALNRANKS": "4", "MPIR_CVAR_CH4_PROGRESS_THROTTLE": "0"}  # the user's choice
    assert launch.throttle_if_oversubscribed(env) == {}
    assert env["MPIR_CVAR_CH4_PROGRESS_THROTTLE"] == "0"


PROBE = """
import os, sys
from crpsgd.session.launch import throttle_if_oversubscribed
throttle_if_oversubscribed()
from mpi4py import MPI
seen = MPI.COMM_WORLD.gather(os.environ.get("MPIR_CVAR_CH4_PROGRESS_THROTTLE"))
if MPI.COMM_WORLD.rank == 0:
    print(*seen)
"""


@pytest.mark.mpi
def test_the_variables_are_in_the_environment_before_mpi_starts():
    launcher = mpiexec()
    if launcher is None:
        pytest.skip("no MPI launcher (mpiexec) found")
    n = launch.cores() + 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPIR_CVAR_CH4_PROGRESS")}
    proc = subprocess.run(
        [*launcher, "-n", str(n), sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1"] * n


def test_resume_command_names_the_launcher_and_rank_count():
    assert launch.resume_command("a.ckpt.h5", 1, {}) == "crpsgd run --resume a.ckpt.h5"
    hydra = {"MPI_LOCALNRANKS": "4", "PMI_SIZE": "4"}
    assert (
        launch.resume_command("a.ckpt.h5", 4, hydra) == "mpiexec -n 4 crpsgd run --resume a.ckpt.h5"
    )
    ompi = {"OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_LOCAL_SIZE": "8"}
    assert launch.resume_command("r.h5", 8, ompi).startswith("mpirun -n 8 ")
    slurm = {"SLURM_JOB_ID": "7", "SLURM_PROCID": "0", "SLURM_TASKS_PER_NODE": "10"}
    assert launch.resume_command("r.h5", 10, slurm).startswith("srun -n 10 ")
    torchrun = {"TORCHELASTIC_RUN_ID": "x", "WORLD_SIZE": "3", "RANK": "0"}
    assert (
        launch.resume_command("r.h5", 1, torchrun)
        == "torchrun --standalone --nproc-per-node 3 -m crpsgd run --resume r.h5"
    )


def test_resume_command_quotes_the_checkpoint_for_the_shell():
    import shlex

    from crpsgd.errors import Preempted

    path = "my runs/it's $HOME.ckpt.h5"
    for n, env in ((1, {}), (4, {"PMI_SIZE": "4", "PMI_RANK": "0"})):
        words = shlex.split(launch.resume_command(path, n, env))
        assert words[-2:] == ["--resume", path]
    hint = str(Preempted(3, path)).split("continue with: ", 1)[1]
    assert shlex.split(hint)[-1] == path
