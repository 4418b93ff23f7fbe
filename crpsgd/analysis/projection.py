"""``crpsgd project``: what a logged run would take on a cluster of ``p`` nodes.

From a run log's rounds (``/rounds``) it takes the schedule (rounds ``t = 1..R``,
per-worker batch ``B_t`` and local steps ``H_t``, so ``s_t = B_t H_t`` samples per worker;
with a growing inner batch ``s_t`` is the round's step of ``sfo_per_worker``),
rank 0's measured compute seconds of each round (gradient and update), fitted as
``compute_t = a + c s_t`` by least squares over rounds 2..R (round 1 holds the JIT
compilation of the kernels; with one batch size throughout ``a`` and ``c`` cannot be told
apart: ``a = 0`` and ``c`` is the mean per sample, which the table says), the driver seconds
per round outside compute, Allreduce and evaluations, ``o``, from the rounds' clock over
rounds 2..R (start-up, ``f*``, the first round's compilation and the evaluations are left
out), and the Allreduce buffer of ``n`` bytes (``comm_bytes / rounds``; for a log without a
summary, preempted, killed or still running, the ``round_buffer_bytes`` the run recorded at
its start). On ``p`` nodes::

    compute(p) = sum_t (a + c H_t b_t(p))    b_t(p) = B_t (weak scaling, the default)
                                             b_t(p) = ceil(B_t N / p) (strong: same global batch)
    comm(p)    = R * allreduce(p, n)         Hockney model, MPICH's algorithm
    (crpsgd.analysis.network) other(p)   = R * o
    wall(p)    = compute(p) + comm(p) + other(p)

Assumptions: one rank per node; compute scales with the per-worker batch at the seconds per
sample measured in the log (same cores, same kernels); no overlap of compute and
communication; every round is one Allreduce of the same ``n`` bytes; the driver's seconds per
round stay as measured; evaluations (objective on the whole data, for the log) are left out.
Communication dominates from the smallest ``p`` with ``comm(p) > compute(p)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crpsgd.analysis.network import Network, allreduce_seconds
from crpsgd.analysis.projection_profile import (
    RunProfile,
    buffer_bytes_of,
    driver_seconds_per_round,
    fit_compute,
    profile_from_record,
)

__all__ = [
    "RunProfile",
    "buffer_bytes_of",
    "driver_seconds_per_round",
    "fit_compute",
    "profile_from_record",
    "project",
    "projection_rows",
    "projection_table",
]

SCALINGS = ("weak", "strong")
#: Largest node count searched for the crossover.
MAX_NODES = 1 << 20


@dataclass(frozen=True)
class Projection:
    """Projected seconds of one run on ``nodes`` nodes."""

    nodes: int
    compute_s: float
    comm_s: float
    other_s: float

    @property
    def wall_s(self) -> float:
        return self.compute_s + self.comm_s + self.other_s

    @property
    def comm_fraction(self) -> float:
        return self.comm_s / self.wall_s if self.wall_s > 0 else 0.0


def compute_seconds(profile: RunProfile, nodes: int, scaling: str = "weak") -> float:
    """``sum_t (a + c H_t b_t(p))``: weak keeps ``b_t = B_t``, strong ``ceil(B_t N / p)``."""
    if scaling == "weak":
        per_worker = profile.batches
    elif scaling == "strong":
        per_worker = -(-profile.batches * profile.n_workers // nodes)  # ceil division
    else:
        raise ValueError(f"scaling={scaling!r}: one of {', '.join(SCALINGS)}")
    samples = float(np.dot(per_worker, profile.local_steps))
    if profile.samples is not None:  # a growing inner batch: the rounds' SFO as logged
        grown = profile.samples
        if scaling == "strong":
            grown = -(-grown * profile.n_workers // nodes)
        samples = float(np.sum(grown))
    return profile.rounds * profile.fixed_s + profile.seconds_per_sample * samples


def project(
    profile: RunProfile,
    net: Network,
    nodes: int,
    scaling: str = "weak",
    algorithm: str = "mpich",
) -> Projection:
    """The projected compute, communication and driver seconds on ``nodes`` nodes."""
    per_round = allreduce_seconds(nodes, profile.buffer_bytes, net, algorithm)
    return Projection(
        nodes=nodes,
        compute_s=compute_seconds(profile, nodes, scaling),
        comm_s=profile.rounds * per_round,
        other_s=profile.other_s,
    )


def crossover(
    profile: RunProfile,
    net: Network,
    scaling: str = "weak",
    algorithm: str = "mpich",
    max_nodes: int = MAX_NODES,
) -> int | None:
    """The smallest node count ``p >= 2`` with ``comm(p) > compute(p)``; None up to
    ``max_nodes``.

    Compute does not grow with ``p``. The ring's cost grows with ``p``; MPICH's two algorithms
    cost the same for every ``p`` strictly between two powers of two ``q < p < 2q`` (they
    reduce to ``q`` ranks), and more there than at ``q`` (the fold). So "dominated" is monotone
    in ``p`` over all ``p`` for the ring and within each such interval otherwise: each
    interval is checked at its end and bisected."""

    def dominated(p: int) -> bool:
        pr = project(profile, net, p, scaling, algorithm)
        return pr.comm_s > pr.compute_s

    def first(lo: int, hi: int) -> int | None:
        """Smallest dominated p in [lo, hi], given monotonicity there."""
        if lo > hi or not dominated(hi):
            return None
        while lo < hi:
            mid = (lo + hi) // 2
            if dominated(mid):
                hi = mid
            else:
                lo = mid + 1
        return hi

    if algorithm == "ring":
        return first(2, max_nodes)
    q = 2
    while q <= max_nodes:
        if dominated(q):
            return q
        found = first(q + 1, min(2 * q - 1, max_nodes))
        if found is not None:
            return found
        q *= 2
    return None


def _seconds(value: float) -> str:
    if value == 0:
        return "0"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def projection_table(
    profiles: list[RunProfile],
    net: Network,
    nodes: list[int],
    scaling: str = "weak",
    algorithm: str = "mpich",
) -> str:
    """Text: per node count, each run's projected compute / communication / wall seconds."""
    lines = [
        f"network {net.name}: alpha = {net.alpha * 1e6:.3g} us, beta = {net.beta * 1e9:.3g} ns/B "
        f"({net.bandwidth_gbit:.3g} Gbit/s), gamma = {net.gamma * 1e9:.3g} ns/B; "
        f"Allreduce: {algorithm}; {scaling} scaling",
        "model: one rank per node, compute at the logged seconds per sample scaled by the "
        "per-worker batch, no overlap, driver seconds per round as logged in the rounds, "
        "start-up and evaluations left out",
    ]
    for i, pr in enumerate(profiles, 1):
        lines.append(
            f"[{i}] {pr.label}: N = {pr.n_workers} logged, {pr.rounds} rounds, "
            f"{pr.buffer_bytes} B per Allreduce; compute {pr.fixed_s * 1e6:.3g} us/round + "
            f"{pr.seconds_per_sample * 1e9:.3g} ns/sample"
            + (" (one batch size: the per-round part is in the per-sample cost)" * pr.one_batch)
            + f"; driver {pr.other_s / pr.rounds * 1e6:.3g} us/round (rounds 2..R)"
        )
    header = ["nodes"] + [f"[{i}] compute / comm / wall s" for i in range(1, len(profiles) + 1)]
    rows = [header]
    for p in nodes:
        row = [str(p)]
        for pr in profiles:
            proj = project(pr, net, p, scaling, algorithm)
            row.append(
                f"{_seconds(proj.compute_s)} / {_seconds(proj.comm_s)} / {_seconds(proj.wall_s)}"
            )
        rows.append(row)
    widths = [max(len(r[j]) for r in rows) for j in range(len(header))]
    for r in rows:
        lines.append("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    for i, pr in enumerate(profiles, 1):
        p = crossover(pr, net, scaling, algorithm)
        where = f"from {p} nodes" if p is not None else f"not up to {MAX_NODES:,} nodes"
        lines.append(f"[{i}] communication exceeds compute {where}")
    return "\n".join(lines)


def projection_rows(
    profiles: list[RunProfile],
    net: Network,
    nodes: list[int],
    scaling: str = "weak",
    algorithm: str = "mpich",
) -> dict:
    """The same as :func:`projection_table`, as plain data (for ``--format json``)."""
    return {
        "network": {"name": net.name, "alpha": net.alpha, "beta": net.beta, "gamma": net.gamma},
        "scaling": scaling,
        "algorithm": algorithm,
        "runs": [
            {
                "run": pr.label,
                "n_workers": pr.n_workers,
                "rounds": pr.rounds,
                "buffer_bytes": pr.buffer_bytes,
                "compute_fixed_s": pr.fixed_s,
                "seconds_per_sample": pr.seconds_per_sample,
                "one_batch_size": pr.one_batch,
                "measured": {"compute_s": pr.compute_s, "comm_s": pr.comm_s, "other_s": pr.other_s},
                "crossover_nodes": crossover(pr, net, scaling, algorithm),
                "projection": [
                    {
                        "nodes": p,
                        "compute_s": (proj := project(pr, net, p, scaling, algorithm)).compute_s,
                        "comm_s": proj.comm_s,
                        "other_s": proj.other_s,
                        "wall_s": proj.wall_s,
                    }
                    for p in nodes
                ],
            }
            for pr in profiles
        ],
    }
