"""``crpsgd project``: projected wall time of logged runs on a cluster (see
:mod:`crpsgd.projection` for the model)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from crpsgd.errors import UsageError


def add_project_parser(sub: Any) -> None:
    """The ``project`` sub-command."""
    from crpsgd.network import ALGORITHMS, PRESETS
    from crpsgd.projection import SCALINGS

    proj = sub.add_parser(
        "project", help="projected wall time of logged runs on a cluster of 8 .. 1024 nodes"
    )
    proj.add_argument("runs", nargs="+", metavar="RUN.h5")
    proj.add_argument("--network", choices=tuple(PRESETS), help="an interconnect preset")
    proj.add_argument("--alpha", help="latency per message, seconds (instead of --network)")
    proj.add_argument("--beta", help="seconds per byte (instead of --network)")
    proj.add_argument(
        "--gamma-op", dest="gamma_op", help="seconds per byte of the local reduction [1e-10]"
    )
    proj.add_argument(
        "--nodes", default="8,16,32,64,128,256,512,1024", help="comma-separated node counts"
    )
    proj.add_argument("--scaling", choices=SCALINGS, default="weak", help="[default: weak]")
    proj.add_argument("--allreduce", choices=ALGORITHMS, default="mpich", help="[default: mpich]")
    proj.add_argument("--format", choices=("text", "json"), default="text")


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
    from crpsgd.projection import MAX_NODES

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

    from crpsgd.network import PRESETS, Network
    from crpsgd.projection import profile_from_record, projection_rows, projection_table
    from crpsgd.runlog import read_run

    if args.network is not None and (args.alpha is not None or args.beta is not None):
        raise UsageError("--network and --alpha/--beta: give one or the other, not both")
    if args.network is not None:
        net = PRESETS[args.network]
    elif args.alpha is not None and args.beta is not None:
        alpha = _positive_float("--alpha", args.alpha)
        beta = _positive_float("--beta", args.beta)
        net = Network("custom", alpha, beta)
    else:
        raise UsageError("crpsgd project needs --network NAME or both --alpha and --beta")
    if args.gamma_op is not None:
        net = replace(net, gamma=_positive_float("--gamma-op", args.gamma_op, allow_zero=True))
    nodes = _node_counts(args.nodes)
    profiles = [profile_from_record(read_run(p)) for p in args.runs]
    if args.format == "json":
        rows = projection_rows(profiles, net, nodes, args.scaling, args.allreduce)
        print(json.dumps(rows, indent=1))
    else:
        print(projection_table(profiles, net, nodes, args.scaling, args.allreduce))
