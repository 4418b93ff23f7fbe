"""Readers (LIBSVM text, HDF5, synthetic) and per-rank row sharding."""
