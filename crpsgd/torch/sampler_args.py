"""The arguments of :class:`~crpsgd.torch.sampler.GrowingBatchSampler`, checked as ``crpsgd
run`` checks its parameters, and the batch schedule they select.

The keywords are ``crpsgd run``'s names (``T``, ``seed``, ``schedule``, and the selected
schedule's own: ``b1`` and ``rho`` for ``exponential``, ``batch`` for ``constant``, ``b1``,
``eta``, ``max_growth``, ``noise_ema``, ``adaptive_test``, ``nu`` for ``adaptive``; a
plugin's schedule brings its own), each converted and checked by the parameter table's own
constraint. The schedule is built by the registered part and bound to the rank count exactly
as ``crpsgd run`` builds it (:func:`crpsgd.registry.parts.build_schedule`). Bad input is one
:class:`~crpsgd.errors.UsageError` naming the keyword; every rank passes the same arguments,
so every rank raises it.
"""

from __future__ import annotations

from typing import Any

from crpsgd.errors import UsageError
from crpsgd.params import convert
from crpsgd.registry import param_table, parts

WHO = "GrowingBatchSampler"
#: The keywords every schedule takes besides its own.
RUN_KEYWORDS = ("T", "seed")


def schedule_config(schedule: str, keywords: dict[str, Any]) -> dict[str, Any]:
    """The checked configuration of ``schedule`` with ``keywords`` (defaults for the rest):
    ``T``, ``seed``, the schedule's own parameters, and ``algo``/``schedule`` as ``crpsgd
    run`` would hold them for ``--algo cr-psgd --schedule SCHEDULE``."""
    names = parts.names("schedule")
    if schedule not in names:
        raise UsageError(f"schedule={schedule!r}: must be one of {', '.join(names)}")
    part = parts.schedule(schedule)
    table = {p.name: p for p in param_table.all_params()}
    own = [p.name for p in part.params]
    allowed = (*RUN_KEYWORDS, *own)
    cfg: dict[str, Any] = {name: table[name].default for name in allowed}
    for key, raw in keywords.items():
        if key not in allowed:
            raise UsageError(
                f"{key}=: not a keyword of {WHO} with schedule={schedule!r} "
                f"(its keywords: {', '.join(allowed)})"
            )
        cfg[key] = convert(table[key], raw, WHO)
    first = part.first_batch
    if first and cfg["T"] < cfg[first]:
        raise UsageError(
            f"T={cfg['T']} ({WHO}): the budget is smaller than the first batch {first}={cfg[first]}"
        )
    cfg.update(algo="cr-psgd", schedule=schedule)
    return cfg


def build_for_ranks(cfg: dict[str, Any], n_workers: int) -> Any:
    """The schedule of ``cfg`` bound to ``n_workers`` ranks without a problem. A schedule
    that estimates the gradient noise (``adaptive``) can only use the spread across workers
    here (the within-worker estimate needs the problem's per-sample or per-chunk
    gradients): on one rank, or with ``noise_source='samples'``, it is refused."""
    if "noise_source" in cfg and (n_workers < 2 or cfg["noise_source"] == "samples"):
        raise UsageError(
            f"schedule={cfg['schedule']!r} ({WHO}): in your own loop the noise estimate is "
            "the spread of the ranks' gradients (noise_source='workers'), which needs "
            f"N >= 2 ranks (here {n_workers}, noise_source={cfg['noise_source']!r}); "
            "crpsgd.torch.train() also has the within-worker estimate"
        )
    return parts.build_schedule(cfg, n_workers, None)
