"""The run log's schema: groups, columns, their types, units and meanings.

Schema (``format = "crpsgd-run"``, ``format_version = 3``)::

    /                      root attributes
        format, format_version     "crpsgd-run", 3
        crpsgd_version             package version that wrote the file
        algorithm                  "cr-psgd", "psgd", ...
        config                     JSON object: the full merged configuration of the run
        n_workers, seed            number of MPI ranks N, master seed
        data_path, data_kind       training data source and its kind (libsvm/hdf5/synthetic)
        data_shape, data_sha256    (n, d) ((n, 3, H, W) for images) and the sha256 of the file
                                   (of the spec if synthetic); torch problems add
                                   model_parameters (the flat vector's length)
        test_*                     the same for the test set, when one is given
        mpi_library                first line of MPI_Get_library_version
        backend                    the collectives' library (--backend): "mpi" or
                                   "torch.distributed (gloo)" / "(nccl)"
        start_time, end_time       ISO 8601, UTC
        status                     "running", "completed", "failed: <reason>" or
                                   "preempted: <reason>"
        f_star                     optimal objective used for suboptimality (NaN if unknown)
        smoothness_L, step_size    L of the objective and the step size gamma actually used
        writer_host, writer_pid    host name and process id of the writer (rank 0)      [v2]
        heartbeat                  Unix time (s) of the writer's last flush              [v2]
    /<group>/<column>      one resizable 1-D dataset per column, with the string
                           attributes ``unit`` and ``meaning`` [v2]; see the tables below
    /result/x              the returned iterate (float64, length d), written at the end;
                           for cr-psgd-catalyst the last outer point y_K
    /result/y_best         cr-psgd-catalyst: the evaluated y_k with the smallest
                           ||grad f||^2; root attributes best_outer (its k, 0 = y_0) and
                           best_grad_norm_sq, plus theta, outer_iterations, inner_budget
    /result attributes     rounds, sfo_per_worker, sfo_total, objective, grad_norm_sq,
                           suboptimality, test_accuracy, test_loss (NaN but for torch
                           problems), wall_s, compute_s, comm_s, eval_s, comm_bytes,
                           eval_collectives

Versions this package reads:

* 1: no ``unit``/``meaning`` attributes and no writer attributes; logs written before
  Catalyst and Local SGD (commit 2bcb736 and earlier) also lack ``/rounds/local_steps``,
  ``/rounds/outer`` and ``/outer``: the reader fills the two columns with their defaults
  (:data:`ROUND_DEFAULTS`) and leaves ``/outer`` empty.
* 2: the first schema with a ``unit`` and ``meaning`` on every dataset and the writer's
  host, PID and heartbeat. Its files have no ``/rounds/noise_var``, ``grad_sq_est``,
  ``noise_scale``: the reader fills them with NaN (:data:`ROUND_DEFAULTS`).
* 3: this schema (adds the three noise-estimate columns of ``/rounds``).

Columns added within a version are optional for the reader (older files lack them; it fills
:data:`EVAL_DEFAULTS` / :data:`ROUND_DEFAULTS`): ``/eval/test_loss`` (torch problems). An
added optional column leaves ``format_version`` alone because every reader already keeps
columns it does not know; a column every run writes, a rename, a removal or a changed
meaning bumps it. Columns only some runs write (:data:`ROUND_OPTIONAL_SCHEMA`, absent from
the others' logs and not filled in by the reader): ``/rounds/noise_along`` and
``/rounds/budget_fill`` (the adaptive schedule's inner-product test and budget-filling last
round), ``/rounds/lr_scale`` (``--lr-scaling`` other than ``constant``). Root attributes
added without a bump: ``data_note`` (what the data is, e.g.
"scikit-learn digits stand-in (not CIFAR-10)"; "" when nothing is to be said), ``eval_rows``
(size of the training subset a torch problem's ``objective`` and ``grad_norm_sq`` are
computed on; absent: the whole training set), ``schedule_warning``, ``model_parameters``
(torch problems), ``round_buffer_bytes`` (bytes of one round's Allreduce, written at the
start, so that a log without a summary still tells it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT = "crpsgd-run"
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)


@dataclass(frozen=True)
class Column:
    """One dataset of a series: its dtype, unit (``"1"`` for a pure number) and meaning."""

    dtype: type
    unit: str
    meaning: str


_SFO = "calls of the stochastic first-order oracle (one sample's gradient)"

ROUND_SCHEMA: dict[str, Column] = {
    "round": Column(np.int64, "1", "1-based communication round index t, over the whole run"),
    "batch": Column(np.int64, "samples", "B_t: per-worker minibatch size of this round"),
    "sfo_per_worker": Column(np.int64, "SFO", f"cumulative {_SFO} of one worker"),
    "sfo_total": Column(np.int64, "SFO", f"cumulative {_SFO} of all N workers"),
    "step_size": Column(np.float64, "1", "gamma used in this round"),
    "wall_s": Column(np.float64, "s", "seconds since the start of the loop (rank 0, MPI.Wtime)"),
    "compute_s": Column(np.float64, "s", "seconds of this round spent in the gradient"),
    "comm_s": Column(np.float64, "s", "seconds of this round spent in the Allreduce"),
    "local_steps": Column(
        np.int64,
        "1",
        "minibatch steps each worker took since the last round (1 unless local-sgd); "
        "the round's SFO per worker is batch * local_steps",
    ),
    "outer": Column(
        np.int64, "1", "cr-psgd-catalyst: outer iteration k >= 1 of this round; 0 otherwise"
    ),
    # [v3] the noise estimates of crpsgd.schedules.noise (NaN where undefined: N = 1, Local SGD)
    "noise_var": Column(
        np.float64,
        "grad^2",
        "this round's estimate of tr(Sigma), the summed variance of one sample's gradient",
    ),
    "grad_sq_est": Column(
        np.float64, "grad^2", "this round's noise-free estimate of ||grad f(x_t)||^2"
    ),
    "noise_scale": Column(
        np.float64,
        "samples",
        "B_noise = tr(Sigma)/||grad f||^2 from the moving averages of the two estimates",
    ),
}
EVAL_SCHEMA: dict[str, Column] = {
    "round": Column(np.int64, "1", "rounds done at this evaluation (0: the initial point)"),
    "sfo_per_worker": Column(np.int64, "SFO", f"cumulative {_SFO} of one worker"),
    "sfo_total": Column(np.int64, "SFO", f"cumulative {_SFO} of all N workers"),
    "objective": Column(np.float64, "1", "f(x) on the whole training set"),
    "grad_norm_sq": Column(np.float64, "1", "||grad f(x)||^2 on the whole training set"),
    "suboptimality": Column(np.float64, "1", "f(x) - f_star (NaN when f_star is unknown)"),
    "test_accuracy": Column(
        np.float64, "1", "fraction of the test set classified right (NaN: no test set)"
    ),
    "wall_s": Column(np.float64, "s", "seconds since the start of the loop (rank 0)"),
    "eval_s": Column(np.float64, "s", "seconds spent in this evaluation"),
    "test_loss": Column(
        np.float64,
        "1",
        "mean loss over the test set (torch problems; NaN: no test set or not computed)",
    ),
}
OUTER_SCHEMA: dict[str, Column] = {
    "outer": Column(np.int64, "1", "cr-psgd-catalyst outer iteration k, 1-based"),
    "round": Column(np.int64, "1", "cumulative rounds after y_k"),
    "sfo_per_worker": Column(np.int64, "SFO", f"cumulative {_SFO} of one worker after y_k"),
    "sfo_total": Column(np.int64, "SFO", f"cumulative {_SFO} of all N workers after y_k"),
    "evaluated": Column(np.int64, "1", "1 if f(y_k) was evaluated, else 0"),
    "objective": Column(np.float64, "1", "f(y_k) when evaluated, else NaN"),
    "grad_norm_sq": Column(np.float64, "1", "||grad f(y_k)||^2 when evaluated, else NaN"),
    "wall_s": Column(np.float64, "s", "seconds since the start of the loop (rank 0)"),
}
SCHEMA: dict[str, dict[str, Column]] = {
    "rounds": ROUND_SCHEMA,
    "eval": EVAL_SCHEMA,
    "outer": OUTER_SCHEMA,
}

#: ``/rounds`` columns a log has only when its run's schedule writes them (the schedule part's
#: ``log_columns``; created at the start, as SWMR cannot add datasets later). Not in
#: :data:`SCHEMA`: the reader keeps them where they are and fills nothing in where they are not.
ROUND_OPTIONAL_SCHEMA: dict[str, Column] = {
    "noise_along": Column(
        np.float64,
        "grad^2",
        "--adaptive-test inner-product: this round's estimate of u^T Sigma u, the variance of "
        "one sample's gradient along u, the previous round's averaged gradient (unit); NaN "
        "in round 1 (no direction yet)",
    ),
    "budget_fill": Column(
        np.int64,
        "1",
        "1 if this round's batch was set to all the SFO left in the budget T (the adaptive "
        "schedule's last round, when its own batch did not fit or left less than itself), else 0",
    ),
    "lr_scale": Column(
        np.float64,
        "1",
        "--lr-scaling other than constant: the factor this round's step size was multiplied "
        "by (B_t/B_1, sqrt(B_t/B_1) or AdaScale's gain); step_size is the scaled gamma",
    ),
}
#: The value of an optional column in a row that leaves it out.
ROUND_OPTIONAL: dict[str, Any] = {"noise_along": float("nan"), "budget_fill": 0, "lr_scale": 1.0}

ROUND_COLUMNS: dict[str, type] = {k: c.dtype for k, c in ROUND_SCHEMA.items()}
EVAL_COLUMNS: dict[str, type] = {k: c.dtype for k, c in EVAL_SCHEMA.items()}
OUTER_COLUMNS: dict[str, type] = {k: c.dtype for k, c in OUTER_SCHEMA.items()}
SERIES: dict[str, dict[str, type]] = {
    "rounds": ROUND_COLUMNS,
    "eval": EVAL_COLUMNS,
    "outer": OUTER_COLUMNS,
}
#: Values of round columns a caller may leave out (algorithms without local steps or outer
#: loop); also what the reader fills in for version 1 logs that lack the columns.
ROUND_DEFAULTS: dict[str, Any] = {"local_steps": 1, "outer": 0}
#: Values of eval columns a caller may leave out (problems without them), and what the
#: reader fills in for logs written before the column was added.
EVAL_DEFAULTS: dict[str, Any] = {"test_loss": float("nan")}
#: Round columns version 3 added (float, NaN when left out or absent from an older log).
ROUND_NAN_COLUMNS = ("noise_var", "grad_sq_est", "noise_scale")
ROUND_DEFAULTS.update(dict.fromkeys(ROUND_NAN_COLUMNS, float("nan")))
