"""Batch schedules (fixed and adaptive), the noise estimators the adaptive ones read, and the
step-size rules with the flat-vector update they drive."""
