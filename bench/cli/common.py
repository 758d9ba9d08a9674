"""What several command groups share: the ``--results`` option and reading a results folder."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def results_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", default=None, metavar="DIR",
                        help="results folder (default: $UCDBENCH_RESULTS or ./results)")


def scan(store: Any) -> list[dict[str, Any]]:
    """The records of a results folder; files that are not records this ucdbench reads are
    skipped, and said so on stderr."""
    records, skipped = store.scan()
    if skipped:
        print(f"ucdbench: skipped {len(skipped)} of {len(records) + len(skipped)} files in {store.runs_dir} that are "
              "not run records this ucdbench reads:", file=sys.stderr)
        for file in skipped:
            print(f"  {file.reason}", file=sys.stderr)
    return records
