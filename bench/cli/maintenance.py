"""Commands that look after this machine's state: ``cache`` inspects and clears the cache of
pretrained bases and generated data. ``cache info`` never imports torch."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ucdbench.contracts.interfaces import UcdbenchError


def add_commands(commands: Any) -> None:
    """The group's subcommands, each with its handler."""
    cache = commands.add_parser("cache", help="the cache of pretrained bases and generated data: inspect, clear",
                                description="The cache ($UCDBENCH_CACHE, default ~/.cache/ucdbench) holds what the "
                                            "suite builds itself; a cleared entry is rebuilt when a run needs it.")
    cache_actions = cache.add_subparsers(dest="cache_action", metavar="ACTION", required=True)
    info = cache_actions.add_parser("info", help="where the cache is, its kinds, their entries and sizes")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(handler=cmd_cache_info)
    clear = cache_actions.add_parser("clear", help="delete every entry, or those of some kinds")
    clear.add_argument("kinds", nargs="*", metavar="KIND",
                       help="kinds to clear (see `ucdbench cache info`; a folder such as `pretrained` clears the "
                            "kinds under it); all when none is given")
    clear.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation (scripts, CI)")
    clear.set_defaults(handler=cmd_cache_clear)


def _size(n_bytes: int) -> str:
    """Bytes as people read them: 512 B, 3.4 MiB."""
    size = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def cmd_cache_info(args: argparse.Namespace) -> int:
    import os

    from ucdbench.running.cache import cache_dir, cache_kinds

    root, kinds = cache_dir(), cache_kinds()
    if args.json:
        print(json.dumps({"path": str(root), "kinds": [vars(k) for k in kinds]}, indent=2))
        return 0
    from tabulate import tabulate

    origin = "$UCDBENCH_CACHE" if os.environ.get("UCDBENCH_CACHE") else "default; $UCDBENCH_CACHE moves it"
    print(f"cache: {root} ({origin})")
    rows = [(k.name, k.entries, _size(k.bytes)) for k in kinds]
    rows.append(("total", sum(k.entries for k in kinds), _size(sum(k.bytes for k in kinds))))
    print(tabulate(rows, headers=("kind", "entries", "size"), colalign=("left", "right", "right")))
    return 0


def cmd_cache_clear(args: argparse.Namespace) -> int:
    from ucdbench.running.cache import cache_dir, clear_cache_kinds, select_cache_kinds

    root = cache_dir()
    kinds = select_cache_kinds(args.kinds)
    entries, size = sum(k.entries for k in kinds), _size(sum(k.bytes for k in kinds))
    if not kinds:
        print(f"cache {root} holds no entries: nothing to clear")
        return 0
    what = f"{entries} entries ({size}) of {', '.join(k.name for k in kinds)} in {root}"
    if not args.yes:
        if not sys.stdin.isatty():
            raise UcdbenchError(f"`ucdbench cache clear` would delete {what}; pass --yes to confirm "
                                "(it cannot ask: standard input is not a terminal)")
        if input(f"delete {what}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 0
    clear_cache_kinds(kinds)
    print(f"deleted {what}; each is rebuilt when a run needs it")
    return 0
