"""The ``ucdbench`` command line. Thin: torch and friends load only inside ``run``.

Exit status: 0 when everything asked for succeeded, 1 when a run failed (the others still
ran and were recorded), 2 for a usage error the user can fix (the message says how).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ucdbench import __version__
from ucdbench.interfaces import PRESETS, UcdbenchError

if TYPE_CHECKING:
    from ucdbench.plugins import Collision, Registry

DEFAULT_TASK = "digits"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ucdbench",
        description="Benchmark efficient and robust deep-learning methods: every method is a plugin, "
                    "every figure is measured by the harness.",
    )
    parser.add_argument("--version", action="version", version=f"ucdbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    listing = commands.add_parser("list", help="methods, tasks, hardware and evaluations, with their plugins; "
                                               "broken plugins and names lost to collisions")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.add_argument("--matrix", action="store_true",
                         help="which method runs on which task (at the default task settings), and why not "
                              "(imports every method and task)")

    plugins = commands.add_parser("plugins", help="every plugin: distribution, version, hooks, what it registered")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")

    run = commands.add_parser("run", help="run methods on a task and record the results",
                              description="Run every method × seed × --set combination; each run is recorded.")
    run.add_argument("--method", nargs="+", required=True, metavar="M", help="method name(s), see `ucdbench list`")
    run.add_argument("--task", default=DEFAULT_TASK, help=f"task name (default: {DEFAULT_TASK}, embedded and offline)")
    run.add_argument("--preset", default="small", choices=PRESETS,
                     help="scale: smoke (seconds), small (CPU minutes; default), paper (the paper's setting)")
    run.add_argument("--seed", nargs="+", type=int, default=[0], metavar="N", help="one run per seed (default: 0)")
    run.add_argument("--hardware", default="cpu", help="cpu, or cuda (all visible GPUs, one worker each)")
    run.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                     help="override a setting: KEY (method), task.KEY, eval.EVALUATION.KEY; "
                          "KEY=a,b sweeps over values; repeatable")
    run.add_argument("--results", default=None, metavar="DIR", help="results folder (default: $UCDBENCH_RESULTS or ./results)")
    run.add_argument("--force", action="store_true", help="run again even if an identical run is recorded")

    board = commands.add_parser("leaderboard", help="write markdown leaderboards and plots from the records")
    board.add_argument("--results", default=None, metavar="DIR", help="results folder (default: $UCDBENCH_RESULTS or ./results)")
    board.add_argument("--out", default="leaderboards", metavar="DIR", help="output folder (default: ./leaderboards)")

    settings = commands.add_parser("show-settings", help="a method's, task's or evaluation's settings: defaults per "
                                                         "preset, allowed values, help")
    settings.add_argument("name", help="a method, task or evaluation name (see `ucdbench list`)")
    settings.add_argument("--kind", choices=("method", "task", "evaluation"),
                          help="which, where a method, task or evaluation share the name")
    settings.add_argument("--json", action="store_true", help="machine-readable output")

    check = commands.add_parser("check-plugin", help="run the conformance kit on a registered plugin: loads, "
                                                     "settings, supports(), smoke fit, rebuild, determinism")
    check.add_argument("name", help="what the plugin registered (a method, task, evaluation or hardware name)")
    check.add_argument("--task", default=None, help="the task of the smoke fit (default: the first supported)")

    scaffold = commands.add_parser("new-plugin", help="write a ready method-plugin package (pyproject with the "
                                                      "entry point, a method, a conformance test)")
    scaffold.add_argument("name", help="the method's name, e.g. my-method")
    scaffold.add_argument("--dir", default=".", help="where to write the package folder (default: here)")

    show = commands.add_parser("show", help="one run's record, readable")
    show.add_argument("run", help="run key, key prefix, or record path")
    show.add_argument("--results", default=None, metavar="DIR", help="results folder (default: $UCDBENCH_RESULTS or ./results)")
    show.add_argument("--json", action="store_true", help="print the raw JSON record")

    cache = commands.add_parser("cache", help="the cache of pretrained bases and generated data: inspect, clear",
                                description="The cache ($UCDBENCH_CACHE, default ~/.cache/ucdbench) holds what the "
                                            "suite builds itself; a cleared entry is rebuilt when a run needs it.")
    cache_actions = cache.add_subparsers(dest="cache_action", metavar="ACTION", required=True)
    info = cache_actions.add_parser("info", help="where the cache is, its kinds, their entries and sizes")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    clear = cache_actions.add_parser("clear", help="delete every entry, or those of some kinds")
    clear.add_argument("kinds", nargs="*", metavar="KIND",
                       help="kinds to clear (see `ucdbench cache info`; a folder such as `pretrained` clears the "
                            "kinds under it); all when none is given")
    clear.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation (scripts, CI)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        commands = {"list": cmd_list, "plugins": cmd_plugins, "run": cmd_run, "leaderboard": cmd_leaderboard,
                    "show": cmd_show, "cache": cmd_cache, "show-settings": cmd_show_settings,
                    "check-plugin": cmd_check_plugin, "new-plugin": cmd_new_plugin}
        return commands[args.command](args)
    except UcdbenchError as exc:
        print(f"ucdbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ucdbench: interrupted", file=sys.stderr)
        return 130


# --------------------------------------------------------------------------------------------


def _collision_json(collision: Collision) -> dict[str, Any]:
    loser, winner = collision.loser, collision.winner
    return {"kind": loser.kind, "name": loser.name, "plugin": loser.plugin, "distribution": loser.distribution,
            "version": loser.version, "kept_by": {"plugin": winner.plugin, "distribution": winner.distribution,
                                                  "version": winner.version}, "message": collision.message}


def cmd_list(args: argparse.Namespace) -> int:
    from ucdbench.plugins import KINDS, load_registry

    registry = load_registry()
    if args.matrix:
        return _print_matrix(registry, args.json)
    if args.json:
        print(json.dumps({
            kind: [{"name": e.name, "summary": e.summary, "plugin": e.plugin, "distribution": e.distribution,
                    "version": e.version} for e in registry.entries[kind].values()]
            for kind in KINDS
        } | {"broken": [vars(b) for b in registry.broken],
             "collisions": [_collision_json(c) for c in registry.collisions]}, indent=2))
        return 0
    from tabulate import tabulate

    for kind in KINDS:
        rows = [(e.name, e.summary, e.plugin, e.package)
                for e in sorted(registry.entries[kind].values(), key=lambda e: e.name)]
        print({"method": "Methods", "task": "Tasks", "hardware": "Hardware", "evaluation": "Evaluations"}[kind])
        print(tabulate(rows, headers=("name", "what", "plugin", "package"), tablefmt="simple") if rows else "  (none)")
        print()
    if registry.broken:
        print("Broken plugins (skipped: nothing they registered is kept)")
        for plugin in registry.broken:
            print(f"  {plugin.name} ({plugin.package}): {plugin.error}")
        print()
    if registry.collisions:
        print("Names not registered (another plugin has them; each plugin keeps its other names)")
        for collision in registry.collisions:
            print(f"  {collision.message}")
        print()
    return 0


def support_matrix(registry: Registry) -> dict[str, dict[str, str | None]]:
    """method → task → None where the method runs on the task at its default settings, else
    the reason it does not (or why the method or task could not be loaded)."""
    tasks: dict[str, Any] = {}
    for name in registry.names("task"):
        try:
            task_cls = registry.load("task", name)
            tasks[name] = task_cls("smoke", 0, task_cls.defaults("smoke"))
        except UcdbenchError as exc:
            tasks[name] = exc
    matrix: dict[str, dict[str, str | None]] = {}
    for method_name in registry.names("method"):
        try:
            method = registry.load("method", method_name)()
        except UcdbenchError as exc:
            matrix[method_name] = {name: f"the method does not load: {exc}" for name in tasks}
            continue
        matrix[method_name] = {name: (f"the task does not load: {task}" if isinstance(task, Exception)
                                      else method.supports(task)) for name, task in tasks.items()}
    return matrix


def _print_matrix(registry: Registry, as_json: bool) -> int:
    from tabulate import tabulate

    matrix = support_matrix(registry)
    if as_json:
        print(json.dumps(matrix, indent=2))
        return 0
    tasks = registry.names("task")
    reasons: dict[str, int] = {}
    rows = []
    for method, row in matrix.items():
        cells = []
        for task in tasks:
            reason = row[task]
            cells.append("✓" if reason is None else f"– [{reasons.setdefault(reason, len(reasons) + 1)}]")
        rows.append((method, *cells))
    print("Which method runs on which task (default task settings; `--set task.KEY=...` may change it)")
    print(tabulate(rows, headers=("method", *tasks), tablefmt="simple", disable_numparse=True))
    print()
    for reason, number in reasons.items():
        print(f"[{number}] {reason}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from ucdbench.plugins import load_registry

    registry = load_registry()
    described = []
    for plugin in registry.plugins:
        working = not plugin.error  # a broken plugin keeps nothing (and may share its name with a working one)
        described.append({**vars(plugin),
                          "registered": registry.registered_by(plugin.name) if working else {},
                          "lost": [_collision_json(c) for c in registry.lost_by(plugin.name)] if working else []})
    if args.json:
        print(json.dumps(described, indent=2))
        return 0
    for plugin in described:
        print(f"{plugin['name']}  ({plugin['distribution'] or 'no distribution'} {plugin['version']}".rstrip()
              + f"; module {plugin['module']})" + ("  BROKEN" if plugin["error"] else ""))
        print(f"  hooks: {', '.join(plugin['hooks']) or 'none'}")
        if plugin["error"]:
            print(f"  error: {plugin['error']}")
            continue
        registered = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in plugin["registered"].items())
        print(f"  registered: {registered or 'nothing'}")
        for lost in plugin["lost"]:
            owner = lost["kept_by"]
            print(f"  lost: {lost['kind']} {lost['name']!r}, kept by plugin {owner['plugin']!r} "
                  f"({owner['distribution'] or 'no distribution'} {owner['version']})".rstrip())
    return 0


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ucdbench.scaffold import new_plugin

    root = new_plugin(args.name, Path(args.dir))
    print(f"wrote {root}/ — next: pip install -e '{root}[test]' && ucdbench check-plugin {args.name}")
    return 0


def cmd_check_plugin(args: argparse.Namespace) -> int:
    from ucdbench.conformance import check_plugin

    checks = []
    for check in check_plugin(args.name, args.task):
        print(check.line(), flush=True)
        checks.append(check)
    failed = sum(not c.passed for c in checks)
    print(f"\n{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_show_settings(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from ucdbench.plugins import load_registry
    from ucdbench.suggestions import did_you_mean

    registry = load_registry()
    kinds = [args.kind] if args.kind else ["method", "task", "evaluation"]
    found = [kind for kind in kinds if args.name in registry.entries[kind]]
    if not found:
        known = [n for kind in kinds for n in registry.names(kind)]
        raise UcdbenchError(f"no {' or '.join(kinds)} called {args.name!r}.{did_you_mean(args.name, known)} "
                            "(`ucdbench list` shows them)")
    described = {}
    for kind in found:
        configurable = registry.load(kind, args.name)
        by_preset = {preset: configurable.declared_settings(preset) for preset in PRESETS}
        described[kind] = [{"name": name, "defaults": {p: by_preset[p][name].default_at(p) for p in PRESETS},
                            "allowed": setting.allowed(), "help": setting.help}
                           for name, setting in by_preset[PRESETS[0]].items()]
    if args.json:
        print(json.dumps(described, indent=2, default=str))
        return 0
    for kind, rows in described.items():
        prefix = {"method": "", "task": "task.", "evaluation": f"eval.{args.name}."}[kind]
        print(f"{kind} {args.name!r}: --set {prefix}KEY=VALUE")
        table = [(r["name"], *(json.dumps(r["defaults"][p]) for p in PRESETS), r["allowed"], r["help"]) for r in rows]
        print(tabulate(table, headers=("setting", *PRESETS, "allowed", "help"), disable_numparse=True)
              if table else "  (no settings)")
        print()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from ucdbench.plugins import load_registry
    from ucdbench.runner import expand_specs, run_all
    from ucdbench.store import RunStore

    registry = load_registry()
    store = RunStore(args.results)
    specs = expand_specs(args.method, args.task, args.preset, args.seed, args.hardware, args.assignments)
    records = []

    def announce(spec, device: str) -> None:
        settings = " ".join(f"{k}={v}" for k, v in spec.overrides.items())
        print(f"→ {spec.method} on {spec.task} [{spec.preset}, seed {spec.seed}, {device}] {settings}".rstrip(),
              file=sys.stderr, flush=True)

    for record in run_all(registry, specs, store, force=args.force, on_start=announce):
        records.append(record)
        if record["status"] == "failed":
            print(f"✗ {record['method']['name']} seed {record.get('seed')}: {record['error']}", file=sys.stderr, flush=True)
    print(summary_table(records))
    print(f"\nrecords: {store.runs_dir}/ — `ucdbench show KEY` for one, `ucdbench leaderboard --results {store.root}` for tables")
    return 1 if any(r["status"] != "ok" for r in records) else 0


def summary_table(records: list[dict[str, Any]]) -> str:
    """One line per run: what ran and the headline figures its evaluations declared."""
    from tabulate import tabulate

    from ucdbench.leaderboard import format_number

    headline: dict[tuple[str, str], str] = {}  # (evaluation, figure) → column header, in order
    for r in records:
        for evaluation, figures in r.get("figures", {}).items():
            for figure in figures:
                if figure.get("headline"):
                    unit = f" ({figure['unit']})" if figure.get("unit") else ""
                    headline.setdefault((evaluation, figure["name"]), figure["name"] + unit)
    rows = []
    for r in records:
        measured = r.get("evaluations", {})
        values = [measured.get(evaluation, {}).get(name) for evaluation, name in headline]
        total = r.get("durations", {}).get("total_s")
        rows.append((r["key"][:10], r["method"]["name"], r["task"]["name"], r.get("seed"),
                     r["status"] + (" (cached)" if r.get("cached") else ""),
                     *(format_number(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                       for v in values),
                     format_number(total, 3) if total is not None else None))
    headers = ("run", "method", "task", "seed", "status", *headline.values(), "seconds")
    return tabulate(rows, headers=headers, missingval="–", disable_numparse=True)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ucdbench.leaderboard import write_leaderboards
    from ucdbench.store import RunStore

    store = RunStore(args.results)
    records, skipped = store.scan()
    if skipped:
        print(f"ucdbench: skipped {len(skipped)} of {len(records) + len(skipped)} files in {store.runs_dir} that are "
              "not run records this ucdbench reads:", file=sys.stderr)
        for file in skipped:
            print(f"  {file.reason}", file=sys.stderr)
    written = write_leaderboards(records, Path(args.out), store.root)
    if not written:
        raise UcdbenchError(f"no successful runs in {store.runs_dir}; run `ucdbench run ...` first or pass --results")
    for path in written:
        print(path)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from ucdbench.store import RunStore

    record = RunStore(args.results).find(args.run)
    if args.json:
        print(json.dumps(record, indent=2, sort_keys=True))
        return 0
    print(f"run {record['key']}  status {record['status']}")
    print(f"method {record['method']['name']}  task {record['task']['name']}  preset {record.get('preset')}  "
          f"seed {record.get('seed')}")
    if record.get("error"):
        print(f"error: {record['error']}")
    hardware = record.get("hardware", {})
    if hardware:
        print(f"hardware: {hardware.get('kind')} {hardware.get('device')} — {hardware.get('name')}")
    for section in ("method", "task"):
        config = record[section].get("config")
        if config:
            print(f"{section} config: " + ", ".join(f"{k}={v}" for k, v in config.items()))
    for name, figures in record.get("evaluations", {}).items():
        print(f"\n[{name}]")
        for key, value in figures.items():
            if not isinstance(value, dict):
                print(f"  {key}: {value:.6g}" if isinstance(value, float) else f"  {key}: {value}")
    for name, reason in record.get("skipped", {}).items():
        print(f"\n[{name}] skipped: {reason}")
    if record.get("method_metrics"):
        print("\n[method]")
        for key, value in record["method_metrics"].items():
            print(f"  {key}: {value:.6g}" if isinstance(value, float) else f"  {key}: {value}")
    for figure in record.get("reported", []):
        print(f"\npaper reports {figure['metric']} = {figure['value']} ({figure['setting']}; {figure['source']})")
    return 0


def _size(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def cmd_cache(args: argparse.Namespace) -> int:
    import os

    from ucdbench.cache import cache_dir, cache_kinds, clear_cache_kinds, select_cache_kinds

    root = cache_dir()
    if args.cache_action == "info":
        kinds = cache_kinds()
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


if __name__ == "__main__":
    sys.exit(main())
