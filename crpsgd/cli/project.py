"""``crpsgd project``: projected wall time of logged runs on a cluster (see
:mod:`crpsgd.analysis.projection` for the model)."""

from __future__ import annotations

import argparse
from typing import Any

from crpsgd.errors import UsageError


def add_project_parser(sub: Any) -> None:
    """The ``project`` sub-command."""
    from crpsgd.analysis.network import ALGORITHMS, PRESETS
    from crpsgd.analysis.projection import SCALINGS

    proj = sub.add_parser(
        "project", help="projected wall time of logged runs on a cluster of 8 .. 1024 nodes"
    )
    proj.add_argument(
        "runs", nargs="+", metavar="RUN.h5", help="run logs written by crpsgd run; one column each"
    )
    proj.add_argument(
        "--network",
        choices=tuple(PRESETS),
        help="an interconnect preset (its latency, bandwidth and reduction cost)",
    )
    proj.add_argument(
        "--net-alpha",
        "--alpha",
        dest="alpha",
        metavar="SECONDS",
        help="network latency per message, seconds (instead of --network; --alpha is the old "
        "spelling, not crpsgd run's --alpha)",
    )
    proj.add_argument(
        "--net-beta",
        "--beta",
        dest="beta",
        metavar="SECONDS_PER_BYTE",
        help="network seconds per byte (instead of --network; --beta is the old spelling)",
    )
    proj.add_argument(
        "--net-gamma",
        "--gamma-op",
        dest="gamma_op",
        metavar="SECONDS_PER_BYTE",
        help="seconds per byte of the Allreduce's local reduction (--gamma-op is the old "
        "spelling; not crpsgd run's step size --gamma) [default: 1e-10]",
    )
    proj.add_argument(
        "--nodes",
        default="8,16,32,64,128,256,512,1024",
        help="comma-separated node counts of the table [default: 8,16,32,64,128,256,512,1024]",
    )
    proj.add_argument(
        "--scaling",
        choices=SCALINGS,
        default="weak",
        help="weak: the same per-worker batch; strong: the same global batch [default: weak]",
    )
    proj.add_argument(
        "--allreduce",
        choices=ALGORITHMS,
        default="mpich",
        help="the Allreduce algorithm of the model [default: mpich]",
    )
    proj.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="output format (json: an infinite or undefined value is null, with the reason) "
        "[default: text]",
    )


def _positive_float(flag: str, text: str, allow_zero: bool = False) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{flag}={text!r}: expected a number") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise UsageError(f"{flag}={text!r}: must be a finite number {bound}")
    return value


def _node_counts(text: str) -> list[int]:
    from crpsgd.analysis.projection import MAX_NODES

    counts = []
    for item in text.split(","):
        try:
            p = int(item.strip())
        except ValueError:
            raise UsageError(f"--nodes={text!r}: {item.strip()!r} is not an integer") from None
        if not 1 <= p <= MAX_NODES:
            raise UsageError(f"--nodes={text!r}: {p} is not in 1..{MAX_NODES}")
        counts.append(p)
    return counts


def project(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from crpsgd.analysis.network import PRESETS, Network
    from crpsgd.analysis.projection import profile_from_record, projection_rows, projection_table
    from crpsgd.cli.json_out import dumps
    from crpsgd.runlog import read_run

    if args.network is not None and (args.alpha is not None or args.beta is not None):
        raise UsageError("--network and --net-alpha/--net-beta: give one or the other, not both")
    if args.network is not None:
        net = PRESETS[args.network]
    elif args.alpha is not None and args.beta is not None:
        alpha = _positive_float("--net-alpha", args.alpha)
        beta = _positive_float("--net-beta", args.beta)
        net = Network("custom", alpha, beta)
    else:
        raise UsageError("crpsgd project needs --network NAME or both --net-alpha and --net-beta")
    if args.gamma_op is not None:
        net = replace(net, gamma=_positive_float("--net-gamma", args.gamma_op, allow_zero=True))
    nodes = _node_counts(args.nodes)
    profiles = [profile_from_record(read_run(p)) for p in args.runs]
    if args.format == "json":
        rows = projection_rows(profiles, net, nodes, args.scaling, args.allreduce)
        print(dumps(rows))
    else:
        print(projection_table(profiles, net, nodes, args.scaling, args.allreduce))
