"""Parallel SGD loops: CR-PSGD and PSGD(B) through batch schedules."""
