"""Cost of one ``MPI_Allreduce`` on a cluster: the Hockney model with MPICH's algorithms.

A message of ``m`` bytes between two nodes costs ``alpha + m beta`` seconds (Hockney 1994,
*The communication challenge for MPP: Intel Paragon and Meiko CS-2*): ``alpha`` the latency
(s), ``beta`` the inverse bandwidth (s/byte). Reducing ``m`` bytes locally costs ``m gamma``
(s/byte). For ``p`` ranks and an ``n``-byte buffer, with ``q = 2^floor(log2 p)`` and
``r = p - q``, the three algorithms MPICH implements cost (Thakur, Rabenseifner & Gropp 2005,
*Optimization of Collective Communication Operations in MPICH*, IJHPCA 19(1), section 4.4;
ring: Patarasuk & Yuan 2009, *Bandwidth optimal all-reduce algorithms for clusters of
workstations*, JPDC 69(2))::

    recursive doubling   lg(q) (alpha + n beta + n gamma)                      + F
    Rabenseifner         2 lg(q) alpha + 2 (q-1)/q n beta + (q-1)/q n gamma    + F
    ring                 2 (p-1) alpha + 2 (p-1)/p n beta + (p-1)/p n gamma

where ``F = 0`` when ``p`` is a power of two and otherwise ``F = 2 (alpha + n beta) + n gamma``:
MPICH first folds the ``r`` surplus ranks into their neighbours (one message and one
reduction) and sends them the result at the end (one message). For a power of two the first
line is ``ceil(log2 p) (alpha + n beta + n gamma)`` and the second ``2 log2 p alpha +
2 (p-1)/p n beta + (p-1)/p n gamma``.

MPICH's choice (``src/mpi/coll/allreduce``, the CVAR ``MPIR_CVAR_ALLREDUCE_SHORT_MSG_SIZE``,
default 2048 bytes): recursive doubling for ``n <= 2048`` bytes, or when the buffer has fewer
elements than ``q``; Rabenseifner's reduce-scatter + allgather above. Ring is MPICH's third
option (selected by hand with ``MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM=ring``) and what NCCL and
Horovod use.

The ``gamma`` term is kept: it is negligible for a9a's 992-byte buffer (a nanosecond against
microseconds of latency) but not for a 1 MB model on a fast network, where the reduction of
about ``n`` bytes costs as much as moving them (``n gamma`` against ``2 n beta``).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Bytes at and below which MPICH's Allreduce uses recursive doubling (its default CVAR).
MPICH_SHORT_MSG_SIZE = 2048

#: Seconds per byte of the local reduction (a sum of two float64 streams on one core from
#: cache: about 10 GB/s, i.e. 0.1 ns/byte; ``bench/bench_allreduce.py`` measures it here).
DEFAULT_GAMMA = 1.0e-10

ALGORITHMS = ("mpich", "recursive-doubling", "rabenseifner", "ring")


@dataclass(frozen=True)
class Network:
    """One interconnect: latency ``alpha`` (s), ``beta`` (s/byte), reduction ``gamma`` (s/byte)."""

    name: str
    alpha: float
    beta: float
    gamma: float = DEFAULT_GAMMA
    source: str = ""

    @property
    def bandwidth_gbit(self) -> float:
        """The bandwidth ``1/beta`` in Gbit/s."""
        return 8.0 / self.beta / 1e9


def _gbit(rate: float) -> float:
    """``beta`` (s/byte) of a link of ``rate`` Gbit/s."""
    return 8.0 / (rate * 1e9)


#: Typical figures, not guarantees: ``alpha`` is an MPI-level half round trip between two
#: nodes as published for such networks, ``beta`` the inverse of the link's signalling rate
#: (the upper bound of bandwidth; MPI reaches about 85-95% of it for large messages).
PRESETS: dict[str, Network] = {
    "10gbe": Network(
        "10gbe",
        20e-6,
        _gbit(10),
        source="TCP/IP over 10 Gigabit Ethernet: 20 us application-to-application latency "
        "(Hurwitz & Feng, 'Initial End-to-End Performance Evaluation of 10-Gigabit Ethernet', "
        "Hot Interconnects 11, 2003); 10 Gbit/s line rate (IEEE 802.3ae)",
    ),
    "25gbe": Network(
        "25gbe",
        20e-6,
        _gbit(25),
        source="TCP/IP over 25 Gigabit Ethernet: latency of the kernel TCP path as for "
        "10 GbE, which the host stack, not the link, sets (Hurwitz & Feng 2003); 25 Gbit/s "
        "line rate (IEEE 802.3by)",
    ),
    "100gbe": Network(
        "100gbe",
        2e-6,
        _gbit(100),
        source="100 Gigabit Ethernet with kernel bypass (RoCE, usNIC): 1.93 us MPI half round "
        "trip measured with NetPIPE over 40 GbE with OS bypass (J. Squyres, 'MPI over 40Gb "
        "Ethernet', Cisco blog, 2014); sub-0.8 us adapter latency (NVIDIA ConnectX-6 EN "
        "product brief); 100 Gbit/s line rate (IEEE 802.3bj)",
    ),
    "ib-edr": Network(
        "ib-edr",
        1.0e-6,
        _gbit(100),
        source="InfiniBand EDR, 4x 25 Gbit/s = 100 Gbit/s data rate (InfiniBand Trade "
        "Association roadmap); about 1 us MPI latency with sub-0.6 us adapters (NVIDIA "
        "ConnectX-6 InfiniBand/VPI adapter cards user manual, introduction)",
    ),
    "ib-hdr": Network(
        "ib-hdr",
        1.0e-6,
        _gbit(200),
        source="InfiniBand HDR, 200 Gbit/s; 'sub-600 nanosecond latency' of the adapter "
        "(Lenovo Press LP1195, ThinkSystem Mellanox ConnectX-6 HDR/200GbE VPI adapters), "
        "about 1 us at the MPI level",
    ),
}


def _check(p: int, nbytes: float) -> None:
    if p < 1:
        raise ValueError(f"p={p}: need at least one rank")
    if nbytes < 0:
        raise ValueError(f"nbytes={nbytes}: must be >= 0")


def _fold(p: int, n: float, net: Network) -> tuple[int, float]:
    """``(q, F)``: the power of two MPICH reduces to and the cost of folding the rest in/out."""
    q = 1 << (p.bit_length() - 1)
    extra = 0.0 if q == p else 2.0 * (net.alpha + n * net.beta) + n * net.gamma
    return q, extra


def recursive_doubling(p: int, nbytes: float, net: Network) -> float:
    """Seconds of MPICH's recursive-doubling Allreduce of ``nbytes`` bytes on ``p`` ranks."""
    _check(p, nbytes)
    if p == 1:
        return 0.0
    q, extra = _fold(p, nbytes, net)
    steps = q.bit_length() - 1
    return steps * (net.alpha + nbytes * (net.beta + net.gamma)) + extra


def rabenseifner(p: int, nbytes: float, net: Network) -> float:
    """Seconds of MPICH's reduce-scatter (recursive halving) + allgather (recursive doubling)."""
    _check(p, nbytes)
    if p == 1:
        return 0.0
    q, extra = _fold(p, nbytes, net)
    steps = q.bit_length() - 1
    share = (q - 1) / q * nbytes
    return 2 * steps * net.alpha + 2 * share * net.beta + share * net.gamma + extra


def ring(p: int, nbytes: float, net: Network) -> float:
    """Seconds of the ring Allreduce: reduce-scatter and allgather, ``p - 1`` steps each."""
    _check(p, nbytes)
    if p == 1:
        return 0.0
    share = (p - 1) / p * nbytes
    return 2 * (p - 1) * net.alpha + 2 * share * net.beta + share * net.gamma


def mpich_choice(p: int, nbytes: float, itemsize: int = 8) -> str:
    """The algorithm MPICH picks by default for a builtin, commutative operation."""
    _check(p, nbytes)
    q = 1 << (p.bit_length() - 1)
    if nbytes <= MPICH_SHORT_MSG_SIZE or nbytes / itemsize < q:
        return "recursive-doubling"
    return "rabenseifner"


_COST = {
    "recursive-doubling": recursive_doubling,
    "rabenseifner": rabenseifner,
    "ring": ring,
}


def allreduce_seconds(
    p: int, nbytes: float, net: Network, algorithm: str = "mpich", itemsize: int = 8
) -> float:
    """Seconds of one Allreduce of ``nbytes`` on ``p`` ranks by ``algorithm`` (``mpich``:
    the one MPICH would choose, see :func:`mpich_choice`)."""
    if algorithm == "mpich":
        algorithm = mpich_choice(p, nbytes, itemsize)
    try:
        cost = _COST[algorithm]
    except KeyError:
        known = ", ".join(ALGORITHMS)
        raise ValueError(f"unknown algorithm {algorithm!r}; one of {known}") from None
    return cost(p, nbytes, net)
