"""Files written and read safely: atomic outputs, guarded HDF5 opening, recordable names,
input/output path checks and checkpoints."""
