"""The command line: argparse only. ``crpsgd`` is :func:`crpsgd.cli.app.main`; the sub-commands
that read logs are in :mod:`~crpsgd.cli.tools` and :mod:`~crpsgd.cli.project`."""

from crpsgd.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
