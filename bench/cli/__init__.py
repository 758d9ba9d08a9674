"""The ``ucdbench`` command line, the top layer: it may import every layer below it. Thin: torch
and friends load only inside the commands that run or rebuild something.

One module per command group adds its subcommands (each parser with its handler):
:mod:`~ucdbench.cli.plugins` (list, plugins, show-settings, check-plugin, new-plugin),
:mod:`~ucdbench.cli.runs` (run, evaluate, plan, show), :mod:`~ucdbench.cli.reports`
(leaderboard, compare, publish) and :mod:`~ucdbench.cli.maintenance` (cache). Beside them,
:mod:`~ucdbench.cli.experiments` reads experiment files, :mod:`~ucdbench.cli.run_options` turns
``run``'s and ``plan``'s options into runs and an executor, and :mod:`~ucdbench.cli.common` holds
what several groups share.

Exit status: 0 when everything asked for succeeded, 1 when a run failed (the others still
ran and were recorded) or ``compare`` found a regression, 2 for a usage error the user can fix
(the message says how).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ucdbench import __version__
from ucdbench.cli import maintenance, plugins, reports, runs
from ucdbench.contracts.interfaces import UcdbenchError

COMMAND_GROUPS = (plugins, runs, reports, maintenance)
"""In the order ``ucdbench --help`` lists their commands."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; each parsed command carries its handler (``args.handler``)."""
    parser = argparse.ArgumentParser(
        prog="ucdbench",
        description="Benchmark efficient and robust deep-learning methods: every method is a plugin, "
                    "every figure is measured by the harness.",
    )
    parser.add_argument("--version", action="version", version=f"ucdbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except UcdbenchError as exc:
        print(f"ucdbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ucdbench: interrupted", file=sys.stderr)
        return 130
