"""The experiment runner behind ``bench/experiment.py`` (and ``bench/theory.py``'s runs).

One module per job: :mod:`runner.definition` (a TOML definition, ``--quick``, ``--data-dir``,
grid points), :mod:`runner.units` (the step-size unit ``L``), :mod:`runner.execute` (running
the grid under MPI), :mod:`runner.rows` (one row per run, from its log or a committed JSON),
:mod:`runner.select` (the ``[select]`` rules), :mod:`runner.report_final` and
:mod:`runner.report_target` (the two table layouts), :mod:`runner.figures` and
:mod:`runner.analyse` (tables, JSON and figures), :mod:`runner.launch` (a definition as its own
MPI job, for one job per rank count).
"""
