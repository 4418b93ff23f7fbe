"""Schedule ``adaptive``: the batch grows by the distributed norm test, no ``rho`` needed
(:mod:`crpsgd.schedules.adaptive`): ``--b1``, ``--eta``, ``--max-growth``, ``--noise-ema``,
``--noise-source``. Select it with ``--schedule adaptive`` (``cr-psgd``, ``psgd`` or
``cr-psgd-catalyst``, whose every inner run starts again at ``B_1`` with fresh estimates)."""

from __future__ import annotations

from typing import Any

from crpsgd.builtin.exponential import B1
from crpsgd.registry.parts import SchedulePart, register_schedule
from crpsgd.schedules.adaptive import PARAMS, AdaptiveBatch


def build(cfg: dict[str, Any]) -> AdaptiveBatch:
    """Unbound: ``crpsgd run`` binds it to the rank count and the problem."""
    return AdaptiveBatch(
        cfg["b1"],
        eta=cfg["eta"],
        max_growth=cfg["max_growth"],
        noise_ema=cfg["noise_ema"],
        noise_source=cfg["noise_source"],
    )


register_schedule(
    SchedulePart(
        name="adaptive",
        help="B_1 = b1, then the norm test across workers picks B_{t+1} in [B_t, max_growth B_t]",
        build=build,
        params=(B1, *PARAMS),
        first_batch="b1",
        label=lambda cfg, attrs: [f"B1={cfg.get('b1')}", f"eta={cfg.get('eta')}"],
    )
)
