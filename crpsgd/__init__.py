"""crpsgd: communication-reduced parallel SGD with dynamic batch sizes over MPI.

Implements CR-PSGD (Yu & Jin, ICML 2019, Algorithm 1) and its baselines on top of
mpi4py collectives, Numba gradient kernels and HDF5 run logs.
"""

__version__ = "0.1.0"
