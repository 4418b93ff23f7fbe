"""The records a part registers (:mod:`crpsgd.registry.parts`) and the contexts its hooks receive.

* :class:`ProblemPart`: ``build(ProblemContext) -> Problem``; ``load_data(cfg, comm) ->
  LoadedData`` (default :func:`tabular_data`: ``--data``/``--test-data`` as LIBSVM, HDF5 or
  synthetic shards); ``smoothness_known`` (False: ``--gamma auto`` and the algorithm's
  ``auto_needs_smoothness`` parameters are refused); ``convex_fstar`` (``--fstar auto``'s
  Newton solve applies: the problem is strongly convex and has ``lam`` and
  ``local_newton_terms``, as :class:`~crpsgd.problems.logreg.LogisticRegression`);
  ``make_evaluator`` (the evaluator of the problem, default the full-data
  :class:`~crpsgd.algorithms.evaluation.Evaluator`); ``log_attrs(problem)`` (root attributes it
  adds).
* :class:`AlgorithmPart`: ``execute(RunContext) -> RunResult`` (builds its
  :class:`~crpsgd.algorithms.driver.Algorithm` and hands it to the one loop with the context:
  :func:`~crpsgd.algorithms.driver.run_algorithm`); ``plan(cfg, n_workers)``
  (what depends on the rank count, checked on every rank before anything is written);
  ``gamma_auto(L, cfg)`` (the step size of ``--gamma auto``, default ``1/L``);
  ``settings(cfg, L)`` (values derived from ``L`` that the run logs and a checkpoint keeps,
  e.g. Catalyst's ``theta``); ``uses_schedule`` and ``default_schedule``; ``inner_schedule``
  (``--schedule`` grows its inner steps' minibatch; none by default).
* :class:`SchedulePart`: ``build(cfg)`` returns a batch-schedule object
  (:mod:`crpsgd.schedules.schedule`); ``first_batch`` names the parameter the budget must hold.

Algorithms and schedules may declare ``label(cfg, attrs) -> [terms]``: what a run's label in
reports and legends says of them (:mod:`crpsgd.analysis.labels`; default: ``name=value`` of each of
their declared parameters).

Every record has ``check(cfg)`` for constraints between its parameters (after each value
passed its own check); it raises :class:`~crpsgd.errors.UsageError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from crpsgd.params import Param, check_first_batch

Check = Callable[[dict[str, Any]], None]
#: ``(logged configuration, log's root attributes) -> ["B1=8", "rho=1.2"]``.
Label = Callable[[dict[str, Any], dict[str, Any]], list[str]]


@dataclass(frozen=True)
class LoadedData:
    """This rank's training shard, the row count of all shards, and the test shard (or None)."""

    train: Any
    n_total: int
    test: Any = None


@dataclass(frozen=True)
class ProblemContext:
    """What :attr:`ProblemPart.build` receives: the validated configuration, the
    communicator and this rank's data."""

    cfg: dict[str, Any]
    comm: Any
    data: LoadedData


@dataclass
class RunContext:
    """What :attr:`AlgorithmPart.execute` receives (the same on every rank but ``rng``).

    ``gamma`` is the run's step size (``--gamma`` or its ``auto`` value); ``step_size`` the
    per-round rule built from it (:mod:`crpsgd.schedules.step_size`), which the loops take;
    ``plan`` is what :attr:`AlgorithmPart.plan` returned; ``settings`` what
    :attr:`AlgorithmPart.settings` returned (or, resuming, what the checkpoint recorded);
    ``schedule`` the batch schedule (None for an algorithm without one); ``resume`` is None for a
    fresh run.
    """

    cfg: dict[str, Any]
    comm: Any
    problem: Any
    evaluator: Any
    log: Any
    rng: np.random.Generator
    x0: np.ndarray
    gamma: float
    step_size: Any
    plan: Any = None
    settings: dict[str, float] | None = None
    schedule: Any = None
    control: Any = None
    resume: Any = None
    progress: Any = None


def tabular_data(cfg: dict[str, Any], comm: Any) -> LoadedData:
    """``--data`` and ``--test-data`` (LIBSVM, HDF5 or synthetic): this rank's shards."""
    from crpsgd.data.loader import load_shard, load_test_shard

    shard, n_total = load_shard(cfg["data"], comm.rank, comm.size, cfg["n_features"], cfg["dense"])
    test = None
    if cfg["test_data"] is not None:
        test, _ = load_test_shard(
            cfg["test_data"],
            comm.rank,
            comm.size,
            shard.n_features,
            cfg["n_features"],
            cfg["dense"],
        )
    return LoadedData(shard, n_total, test)


def inverse_smoothness(smoothness: float, cfg: dict[str, Any]) -> float:
    """``gamma auto = 1/L``."""
    return 1.0 / smoothness


def _no_plan(cfg: dict[str, Any], n_workers: int) -> None:
    return None


def _no_settings(cfg: dict[str, Any], smoothness: float) -> dict[str, float]:
    return {}


class _Checked:
    check: Check | None

    def check_config(self, cfg: dict[str, Any]) -> None:
        """The part's own constraints between parameters (``check``), if any."""
        if self.check is not None:
            self.check(cfg)


@dataclass(frozen=True)
class ProblemPart(_Checked):
    name: str
    help: str
    build: Callable[[ProblemContext], Any]
    params: tuple[Param, ...] = ()
    smoothness_known: bool = True
    convex_fstar: bool = False
    load_data: Callable[[dict[str, Any], Any], LoadedData] = tabular_data
    #: A known lower bound on the strong-convexity constant mu (``lam`` for l2 logistic
    #: regression), or None: unknown (a schedule's warning needs it).
    mu_lower_bound: Callable[[dict[str, Any]], float] | None = None
    check: Check | None = None
    #: ``(problem, comm, f_star, test_shard) -> evaluator``; None: the full-data
    #: :class:`~crpsgd.algorithms.evaluation.Evaluator`.
    make_evaluator: Callable[..., Any] | None = None
    #: ``problem -> {name: value}``: root attributes of the run log the problem adds.
    log_attrs: Callable[[Any], dict[str, Any]] | None = None
    #: ``(problem, cfg, comm)``: called on every rank after a completed run, for the files
    #: the problem writes beside the log (the torch problem's ``<out stem>.pt``); None: none.
    finish: Callable[[Any, dict[str, Any], Any], None] | None = None


@dataclass(frozen=True)
class AlgorithmPart(_Checked):
    name: str
    help: str
    execute: Callable[[RunContext], Any]
    params: tuple[Param, ...] = ()
    uses_schedule: bool = False
    default_schedule: str | None = None
    #: ``--schedule`` grows the minibatch of its inner steps (Local SGD, DiLoCo); ``auto``:
    #: no schedule, its constant ``--batch``. ``--lr-scaling`` stays refused.
    inner_schedule: bool = False
    plan: Callable[[dict[str, Any], int], Any] = _no_plan
    gamma_auto: Callable[[float, dict[str, Any]], float] = inverse_smoothness
    settings: Callable[[dict[str, Any], float], dict[str, float]] = _no_settings
    #: Parameters besides ``gamma`` whose ``auto`` value needs the smoothness constant.
    auto_needs_smoothness: tuple[str, ...] = ()
    #: The strong-convexity lower bound of the problem the loop's schedule runs on, from the
    #: problem's ``mu`` and :attr:`settings` (Catalyst's inner problems: ``mu + theta``).
    loop_mu: Callable[[float, dict[str, float]], float] = lambda mu, settings: mu
    check: Check | None = None
    #: The run label's terms for this algorithm (None: its declared parameters).
    label: Label | None = None


@dataclass(frozen=True)
class SchedulePart(_Checked):
    name: str
    help: str
    build: Callable[[dict[str, Any]], Any]
    params: tuple[Param, ...] = ()
    #: The parameter holding the first batch ``B_1``: the budget ``T`` must hold it.
    first_batch: str | None = None
    #: ``warning(cfg, gamma, mu)``: one line when the schedule breaks an assumption of the
    #: analysis for a problem with strong convexity at least ``mu`` (None: no warning).
    warning: Callable[[dict[str, Any], float, float], str | None] | None = None
    check: Check | None = None
    #: The run label's terms for this schedule (None: its declared parameters).
    label: Label | None = None
    #: ``log_columns(cfg)``: the optional ``/rounds`` columns its runs write (names of
    #: :data:`crpsgd.runlog.schema.ROUND_OPTIONAL`; None: none).
    log_columns: Callable[[dict[str, Any]], tuple[str, ...]] | None = None

    def check_config(self, cfg: dict[str, Any]) -> None:
        if self.first_batch is not None:
            check_first_batch(cfg, self.first_batch)
        super().check_config(cfg)
