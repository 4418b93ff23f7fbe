"""Objectives and their stochastic-gradient oracles over the local shard."""
