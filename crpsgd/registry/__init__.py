"""The registry of parts: problems, algorithms and batch schedules (built-in and plugins),
their records, the common parameters and the configuration composed from them."""
