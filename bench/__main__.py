"""``python -m bench NAME [ARGS]``: run one benchmark of :data:`bench.COMMANDS`."""

from __future__ import annotations

import importlib
import sys

from bench import COMMANDS


def main(argv: list[str] | None = None) -> int:
    """Run ``NAME``'s ``main(ARGS)``; exit status 2 with the list of names for an unknown one."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        names = ", ".join(COMMANDS)
        given = f"unknown benchmark {argv[0]!r}; " if argv else ""
        print(f"usage: python -m bench NAME [ARGS]: {given}NAME is one of {names}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{COMMANDS[argv[0]]}")
    sys.argv = [f"python -m bench {argv[0]}", *argv[1:]]
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
