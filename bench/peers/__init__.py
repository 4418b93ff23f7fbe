"""The peers of ``python -m bench peers``: the same algorithms written as a user of mpi4py +
SciPy, ``torch.distributed`` (gloo) or DDP, and Horovod would write them, each run as
``mpiexec -n N python -m bench.peers.NAME``."""
