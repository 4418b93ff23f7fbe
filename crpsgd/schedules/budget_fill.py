"""The last round of a schedule that spends its budget (``--schedule adaptive``).

Algorithm 1 runs round ``t`` only if ``B_1 + ... + B_t <= T`` and ends at the first batch that
does not fit, leaving up to a whole batch of the per-worker SFO budget ``T`` unused (38% in
one adaptive run). A schedule with ``fills_budget = True`` instead gives its last round all
that is left, ``T - (B_1 + ... + B_{t-1})``, when either

* its batch ``B_t`` does not fit what is left (the last round is then smaller than planned, yet
  not smaller than ``B_{t-1}``: see below), or
* it fits, but what would remain after it is less than ``B_t``: no later round could run, since
  the schedule's batches never shrink (the last round is then larger than planned, by less
  than ``B_t``).

So such a run spends exactly ``T`` SFO per worker, and its batches never shrink: the first case
needs ``T - used < B_t`` after a round ``t - 1`` that did not take the rest, i.e. one after which
at least ``B_{t-1}`` was left. A fixed schedule keeps Algorithm 1's rule exactly.
"""

from __future__ import annotations

__all__ = ["budget_round"]


def budget_round(batch: int, left: int, fills_budget: bool) -> tuple[int | None, bool]:
    """``(the round's batch per worker, whether it was set to all that is left)`` for a
    planned ``batch`` with ``left`` SFO per worker still in the budget; ``(None, False)`` when
    no round runs. Without ``fills_budget``: Algorithm 1's rule (``batch`` if it fits)."""
    if not fills_budget or left < 1:
        return (batch if batch <= left else None), False
    if batch > left or left - batch < batch:
        return left, left != batch
    return batch, False
