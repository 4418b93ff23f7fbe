"""Communication: the communicator of the round's one Allreduce, its native handles for the
compiled rounds, and a rank's life around MPI (signals, a guarded start, one exit for all)."""
