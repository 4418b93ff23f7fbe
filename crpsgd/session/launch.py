"""What ``crpsgd run`` does about its launch before MPI starts: more ranks than cores.

A rank that waits for a collective busy-polls in MPICH (and Open MPI) by default: with more
ranks on a node than cores, the waiting ranks take the cores from the ones that compute,
and a run spends most of its time in system calls (PSGD(4), ``T = 100000``, 4 ranks on 2
cores: see the README's "More ranks than cores"). MPICH's progress throttle makes a waiting
rank sleep instead; Open MPI's ``mpi_yield_when_idle`` makes it yield. Both are read from
the environment when MPI initialises, i.e. at ``from mpi4py import MPI``, so
:func:`throttle_if_oversubscribed` must run before that import (``crpsgd.cli.app.main`` calls it
before it imports :mod:`crpsgd.session.run`).

The ranks on this node are read from the launcher's environment (Hydra/MPICH:
``MPI_LOCALNRANKS``; Open MPI: ``OMPI_COMM_WORLD_LOCAL_SIZE``; SLURM:
``SLURM_NTASKS_PER_NODE`` / ``SLURM_TASKS_PER_NODE``; else ``PMI_SIZE``, all ranks on one
node), the cores from the CPU affinity of this process. A variable the user has set is
never changed (set ``MPIR_CVAR_CH4_PROGRESS_THROTTLE=0`` to keep busy polling).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import MutableMapping

#: What is set when ranks outnumber cores (MPICH's CH4 device; Open MPI).
THROTTLE = {
    "MPIR_CVAR_CH4_PROGRESS_THROTTLE": "1",
    "MPIR_CVAR_CH4_PROGRESS_THROTTLE_NO_PROGRESS_COUNT": "1",
    "OMPI_MCA_mpi_yield_when_idle": "1",
}


def local_ranks(env: MutableMapping[str, str] | None = None) -> int | None:
    """Ranks the launcher started on this node, or None when not under a known launcher."""
    env = os.environ if env is None else env
    for var in ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"):
        if env.get(var, "").isdigit():
            return int(env[var])
    match = re.match(r"(\d+)", env.get("SLURM_TASKS_PER_NODE", ""))
    if match:
        return int(match.group(1))
    if env.get("PMI_SIZE", "").isdigit():
        return int(env["PMI_SIZE"])
    return None


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def throttle_if_oversubscribed(env: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """When ranks outnumber cores, set the :data:`THROTTLE` variables that are not set yet;
    returns what was set (empty: nothing to do, or the user chose). Call before MPI starts."""
    env = os.environ if env is None else env
    ranks = local_ranks(env)
    if ranks is None or ranks <= cores():
        return {}
    if "mpi4py.MPI" in __import__("sys").modules:
        return {}  # too late: MPI has read its environment already
    if "MPIR_CVAR_CH4_PROGRESS_THROTTLE" in env:
        return {}
    applied = {k: v for k, v in THROTTLE.items() if k not in env}
    env.update(applied)
    return applied


def resume_command(
    checkpoint: object, n_ranks: int, env: MutableMapping[str, str] | None = None
) -> str:
    """The command that resumes from ``checkpoint`` on ``n_ranks`` ranks, with the launcher
    this run was started by: ``srun`` under SLURM, ``mpirun`` under Open MPI, else
    ``mpiexec``, ``torchrun`` (one node, ``WORLD_SIZE`` ranks) for a job it started; without
    a launcher on one rank, plain ``crpsgd run``. The path is shell-quoted: the line can be
    pasted into a shell whatever the name holds."""
    env = os.environ if env is None else env
    command = f"crpsgd run --resume {shlex.quote(str(checkpoint))}"  # spaces, quotes, $
    if "TORCHELASTIC_RUN_ID" in env:  # each process's MPI has one rank: torchrun knows N
        n = env.get("WORLD_SIZE", str(n_ranks))
        return f"torchrun --standalone --nproc-per-node {n} -m {command}"
    if n_ranks <= 1 and local_ranks(env) is None:
        return command
    if "SLURM_JOB_ID" in env and "SLURM_PROCID" in env:
        launcher = "srun"
    elif "OMPI_COMM_WORLD_SIZE" in env:
        launcher = "mpirun"
    else:
        launcher = "mpiexec"
    return f"{launcher} -n {n_ranks} {command}"
