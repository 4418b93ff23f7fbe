"""Numba-jitted kernels over flat arrays: no MPI, no I/O, no Python objects."""
