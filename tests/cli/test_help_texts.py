"""Every sub-command's help documents every option and positional, and writes defaults one
way: ``[default: x]`` (never ``[x]`` alone, never ``(default ...)``)."""

import argparse
import re

import pytest

from crpsgd.cli.app import build_parser


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


SUBS = _subparsers(build_parser())
#: A bracket that is not "[default: ...]" but holds a value: "[297]", "[1e-10]", "[weak]".
BARE_DEFAULT = re.compile(r"\[[\w.+\-/]+\]")


@pytest.mark.parametrize("name", sorted(SUBS))
def test_every_action_has_help_and_defaults_are_written_one_way(name):
    parser = SUBS[name]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        what = f"crpsgd {name} {'/'.join(action.option_strings) or action.dest}"
        assert action.help and action.help.strip(), f"{what}: no help"
        text = action.help
        assert not BARE_DEFAULT.search(text), f"{what}: default not as [default: x]: {text}"
        assert "(default" not in text.lower(), f"{what}: default not as [default: x]: {text}"
        if action.default not in (None, False, argparse.SUPPRESS) and action.option_strings:
            assert "[default: " in text, f"{what}: default {action.default!r} not shown: {text}"


def test_data_help_names_cifar10_and_gamma_auto_says_what_it_means_per_problem():
    run = SUBS["run"]
    helps = {a.dest: a.help for a in run._actions}
    assert "cifar10:DIR" in helps["data"]
    assert "torch" in helps["gamma"] and "auto" in helps["gamma"]
