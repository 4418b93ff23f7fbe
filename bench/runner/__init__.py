"""The experiment runner behind ``python -m bench experiment`` (and the runs of
``python -m bench theory``).

One module per job: :mod:`bench.runner.definition` (a TOML definition, ``--quick``,
``--data-dir``, grid points), :mod:`bench.runner.units` (the step-size unit ``L``),
:mod:`bench.runner.execute` (running the grid under MPI), :mod:`bench.runner.rows` (one row
per run, from its log or a committed JSON), :mod:`bench.runner.select` (the ``[select]``
rules), :mod:`bench.runner.report_final` and :mod:`bench.runner.report_target` (the two table
layouts), :mod:`bench.runner.figures` and :mod:`bench.runner.analyse` (tables, JSON and
figures), :mod:`bench.runner.launch` (a definition as its own MPI job, for one job per rank
count).
"""
