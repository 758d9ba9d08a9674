"""Commands that report on recorded runs: ``leaderboard`` writes markdown tables and plots,
``publish`` a static site, ``compare`` gates one results folder against another."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ucdbench.cli.common import results_option, scan
from ucdbench.contracts.interfaces import UcdbenchError


def add_commands(commands: Any) -> None:
    """The group's subcommands, each with its handler."""
    for add in (_add_leaderboard_parser, _add_compare_parser, _add_publish_parser):
        add(commands)


def _add_leaderboard_parser(commands: Any) -> None:
    board = commands.add_parser("leaderboard", help="write markdown leaderboards and plots from the records")
    results_option(board)
    board.add_argument("--out", default="leaderboards", metavar="DIR", help="output folder (default: ./leaderboards)")
    board.add_argument("-f", "--file", action="append", default=[], metavar="TOML",
                       help="experiment file(s) whose claims the index judges on these records, and whose views "
                            "lead their tasks' pages; repeatable")
    board.add_argument("--keep-records", action="store_true",
                       help="copy the records behind the pages into OUT/records (compact) and name in the index the "
                            "command that rebuilds the pages from them: pages anyone can audit")
    board.set_defaults(handler=cmd_leaderboard)


def _claims_and_views(files: list[str]) -> tuple[list[Any], list[Any]]:
    """The claims and the views of the experiment files given with ``-f``."""
    from ucdbench.cli.experiments import load_experiment

    experiments = [load_experiment(path) for path in files]
    return ([claim for experiment in experiments for claim in experiment.claims],
            [view for experiment in experiments for view in experiment.views])


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from ucdbench.reporting.leaderboard import write_leaderboards
    from ucdbench.running.store import RunStore

    claims, views = _claims_and_views(args.file)
    store = RunStore(args.results)
    records = scan(store)
    out = Path(args.out)
    kept_with = [Path(path) for path in args.file] if args.keep_records else None
    written = write_leaderboards(records, out, store.root, claims, views, kept_with)
    if not written:
        raise UcdbenchError(f"no successful runs in {store.runs_dir}; run `ucdbench run ...` first or pass --results")
    if args.keep_records:
        from ucdbench.reporting.audit import keep_records

        print(keep_records(records, store.root, out))
    for path in written:
        print(path)
    return 0


def _add_compare_parser(commands: Any) -> None:
    from ucdbench.core.stats import MIN_EFFECT, SIGNIFICANCE, SLOWDOWN_FACTOR

    compare = commands.add_parser(
        "compare", help="the regression gate: HEAD's runs against BASE's, figure by figure",
        description="Match the runs of two results folders by method, task, preset, seed, settings and hardware, "
                    "and compare each figure as its kind says: exact figures must be equal, quality figures are "
                    "tested across seeds (paired t-test and a minimum effect), timings on raw samples (asv's rule). "
                    "Exit status: 0 no regression, 1 a regression (or a run both hold that could not be compared, or "
                    "nothing compared at all), 2 a usage error.")
    compare.add_argument("base", metavar="BASE", help="the results folder to compare against (last night's)")
    compare.add_argument("head", metavar="HEAD", help="the results folder to check (tonight's)")
    compare.add_argument("--out", metavar="FILE", default=None, help="also write the markdown report to FILE")
    compare.add_argument("--json", metavar="FILE", default=None,
                         help="also write the report as JSON to FILE: what `ucdbench publish --compare FILE` renders "
                              "as tables and marks in the history")
    compare.add_argument("--accept", metavar="FILE", default=None,
                         help="an accepted-changes file (TOML [[accept]] entries: method, task, figure, reason): "
                              "the regressions it names are reported as accepted and do not fail the gate")
    compare.add_argument("--alpha", type=float, default=SIGNIFICANCE,
                         help="p-value below which a quality figure's change is beyond noise "
                              f"(default: {SIGNIFICANCE})")
    compare.add_argument("--min-effect", type=float, default=MIN_EFFECT,
                         help=f"smallest relative change of a quality figure's mean that counts (default: {MIN_EFFECT} "
                              f"= {100 * MIN_EFFECT:g}%%)")
    compare.add_argument("--slowdown-factor", type=float, default=SLOWDOWN_FACTOR,
                         help=f"ratio of medians a timing must exceed to be flagged (default: {SLOWDOWN_FACTOR})")
    compare.set_defaults(handler=cmd_compare)


def _add_publish_parser(commands: Any) -> None:
    publish = commands.add_parser(
        "publish", help="a static HTML site of the results: tasks, methods, sortable tables, charts, every record",
        description="Write the results folder's leaderboards as a static site (open OUT/index.html; no server, no "
                    "network): an index of tasks and methods, a page per task with its charts and sortable tables, "
                    "each run's record, attached images, the claims of experiment files and the history of earlier "
                    "results.")
    results_option(publish)
    publish.add_argument("--out", default="site", metavar="DIR",
                         help="the site folder (default: ./site); replaced if an earlier publish wrote it")
    publish.add_argument("-f", "--file", action="append", default=[], metavar="TOML",
                         help="experiment file(s) whose claims the index judges on these records, and whose views "
                              "lead their tasks' pages; repeatable")
    publish.add_argument("--history", default=None, metavar="FILE",
                         help="a history file (JSON Lines, one entry per published results folder) whose entries "
                              "the task pages show night by night")
    publish.add_argument("--append-history", action="store_true",
                         help="first append this results folder's summary to --history (as the nightly job does)")
    publish.add_argument("--compare", default=None, metavar="FILE",
                         help="a `ucdbench compare` report as JSON (--json FILE of compare): rendered as compare.html, "
                              "linked from the index, and its regressions and accepted changes marked in the history "
                              "entry --append-history adds")
    publish.set_defaults(handler=cmd_publish)


def cmd_publish(args: argparse.Namespace) -> int:
    from ucdbench.cli.plugins import support_matrix
    from ucdbench.discovery.registry import load_registry
    from ucdbench.reporting.site import append_history, build_site, read_compare_report, read_history
    from ucdbench.running.store import RunStore

    if args.append_history and not args.history:
        raise UcdbenchError("--append-history needs --history FILE: the history file to append to")
    report = read_compare_report(Path(args.compare)) if args.compare else None
    claims, views = _claims_and_views(args.file)
    store = RunStore(args.results)
    records = scan(store)
    if not any(r.get("status") == "ok" for r in records):
        raise UcdbenchError(f"no successful runs in {store.runs_dir}; run `ucdbench run ...` first or pass --results")
    history = Path(args.history) if args.history else None
    if history is not None and args.append_history:
        append_history(history, records, report)
    support, _ = support_matrix(load_registry())  # why a method does not run on a task, for its page
    pages = build_site(records, Path(args.out), store.root, claims, read_history(history) if history else [], report,
                       views, support)
    print(f"{pages[0]} ({len(pages) - 1} task pages; open it in a browser)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ucdbench.reporting.accepted import apply_acceptances, load_acceptances
    from ucdbench.reporting.compare import Thresholds, compare_records, load_results, markdown, report_data

    limits = Thresholds(alpha=args.alpha, min_effect=args.min_effect, slowdown_factor=args.slowdown_factor)
    limits.check()
    folders = {}
    for role, folder in (("BASE", args.base), ("HEAD", args.head)):
        records, skipped = load_results(folder, role)
        for file in skipped:
            print(f"ucdbench: {role}: skipped {file.reason}", file=sys.stderr)
        folders[role] = (folder, records)
    acceptances = load_acceptances(args.accept) if args.accept else None
    comparison = compare_records(folders["BASE"][1], folders["HEAD"][1], limits)
    applied = apply_acceptances(comparison, acceptances) if acceptances is not None else None
    report = markdown(comparison, folders["BASE"], folders["HEAD"], limits, applied)
    print(report, end="")
    if args.out:
        Path(args.out).write_text(report)
    if args.json:
        data = report_data(comparison, folders["BASE"], folders["HEAD"], limits, applied)
        Path(args.json).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return 1 if comparison.fails_gate else 0
