"""Schedule ``adaptive``: the batch grows by the distributed norm test, no ``rho`` needed
(:mod:`crpsgd.schedules.adaptive`), or by the inner-product test (``--adaptive-test inner-product``,
:mod:`crpsgd.schedules.adaptive_inner`): ``--b1``, ``--eta``, ``--max-growth``, ``--noise-ema``,
``--noise-source``, ``--adaptive-test``, ``--nu``. Select it with ``--schedule adaptive``
(``cr-psgd``, ``psgd`` or ``cr-psgd-catalyst``, whose every inner run starts again at ``B_1``
with fresh estimates). Its last round takes all of the budget left
(:mod:`crpsgd.schedules.budget_fill`)."""

from __future__ import annotations

from typing import Any

from crpsgd.builtin.exponential import B1
from crpsgd.registry.parts import SchedulePart, register_schedule
from crpsgd.schedules.adaptive import PARAMS, AdaptiveBatch
from crpsgd.schedules.adaptive_inner import PARAMS as TEST_PARAMS
from crpsgd.schedules.adaptive_inner import InnerProductBatch


def build(cfg: dict[str, Any]) -> AdaptiveBatch:
    """Unbound: ``crpsgd run`` binds it to the rank count and the problem."""
    common = {
        "eta": cfg["eta"],
        "max_growth": cfg["max_growth"],
        "noise_ema": cfg["noise_ema"],
        "noise_source": cfg["noise_source"],
    }
    if cfg.get("adaptive_test", "norm") == "inner-product":  # absent: an older checkpoint
        return InnerProductBatch(cfg["b1"], nu=cfg["nu"], **common)
    return AdaptiveBatch(cfg["b1"], **common)


def _label(cfg: dict[str, Any], attrs: Any) -> list[str]:
    parts = [f"B1={cfg.get('b1')}", f"eta={cfg.get('eta')}"]
    if cfg.get("adaptive_test", "norm") != "norm":
        parts.append(f"test={cfg.get('adaptive_test')}")
    return parts


def _log_columns(cfg: dict[str, Any]) -> tuple[str, ...]:
    """``budget_fill`` always, ``noise_along`` with the inner-product test."""
    inner = cfg.get("adaptive_test", "norm") == "inner-product"
    return ("budget_fill", "noise_along") if inner else ("budget_fill",)


register_schedule(
    SchedulePart(
        name="adaptive",
        help="B_1 = b1, then the norm test (or --adaptive-test inner-product) across workers "
        "picks B_{t+1} in [B_t, max_growth B_t]; the last round takes the budget left",
        build=build,
        params=(B1, *PARAMS, *TEST_PARAMS),
        first_batch="b1",
        label=_label,
        log_columns=_log_columns,
    )
)
