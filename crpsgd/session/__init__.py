"""What ``crpsgd run`` does on N ranks around the algorithm: set-up and its agreement across
ranks, paths, resume checks, ``f*``, the launch and the kernel cache."""
