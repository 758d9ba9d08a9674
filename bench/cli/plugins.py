"""Commands about the installed plugins: ``list``, ``plugins``, ``show-settings``,
``check-plugin`` and ``new-plugin``. ``list`` and ``plugins`` never import torch."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ucdbench.contracts.interfaces import PRESETS, UcdbenchError

if TYPE_CHECKING:
    from ucdbench.discovery.registry import Collision, Registry


def add_commands(commands: Any) -> None:
    """The group's subcommands, each with its handler."""
    listing = commands.add_parser("list", help="methods, tasks, hardware and evaluations, with their plugins; "
                                               "broken plugins and names lost to collisions")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.add_argument("--matrix", action="store_true",
                         help="which method runs on which task (at the default task settings), and why not "
                              "(imports every method and task)")
    listing.set_defaults(handler=cmd_list)

    plugins = commands.add_parser("plugins", help="every plugin: distribution, version, hooks, what it registered")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(handler=cmd_plugins)

    settings = commands.add_parser("show-settings", help="a method's, task's or evaluation's settings: defaults per "
                                                         "preset, allowed values, help")
    settings.add_argument("name", help="a method, task or evaluation name (see `ucdbench list`)")
    settings.add_argument("--kind", choices=("method", "task", "evaluation"),
                          help="which, where a method, task or evaluation share the name")
    settings.add_argument("--json", action="store_true", help="machine-readable output")
    settings.set_defaults(handler=cmd_show_settings)

    check = commands.add_parser("check-plugin", help="run the conformance kit on a registered plugin: loads, "
                                                     "settings, supports(), smoke fit, rebuild, determinism; "
                                                     "an evaluation's measure on a smoke run and its own check")
    check.add_argument("name", help="what the plugin registered (a method, task, evaluation or hardware name)")
    check.add_argument("--task", default=None, help="the task of the smoke fit (default: the first supported)")
    check.add_argument("--method", default=None,
                       help="an evaluation's: the method whose smoke run it measures (default: the first it applies to)")
    check.set_defaults(handler=cmd_check_plugin)

    scaffold = commands.add_parser("new-plugin", help="write a ready method-plugin package (pyproject with the "
                                                      "entry point, a method, a conformance test)")
    scaffold.add_argument("name", help="the method's name, e.g. my-method")
    scaffold.add_argument("--dir", default=".", help="where to write the package folder (default: here)")
    scaffold.set_defaults(handler=cmd_new_plugin)


def _collision_json(collision: Collision) -> dict[str, Any]:
    loser, winner = collision.loser, collision.winner
    return {"kind": loser.kind, "name": loser.name, "plugin": loser.plugin, "distribution": loser.distribution,
            "version": loser.version, "kept_by": {"plugin": winner.plugin, "distribution": winner.distribution,
                                                  "version": winner.version}, "message": collision.message}


def cmd_list(args: argparse.Namespace) -> int:
    from ucdbench.discovery.registry import KINDS, load_registry

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
        print({"method": "Methods", "task": "Tasks", "hardware": "Hardware", "evaluation": "Evaluations",
               "sink": "Sinks"}[kind])
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


def support_matrix(registry: Registry) -> tuple[dict[str, dict[str, str | None]], dict[str, str]]:
    """method → task → None where the method runs on the task at its default settings, else
    the reason it does not (or why the method or task could not be loaded); and what did not
    load ("method NAME" or "task NAME" → why), which is a plugin's fault, not a gap."""
    from ucdbench.discovery.registry import construct

    failed: dict[str, str] = {}
    tasks: dict[str, Any] = {}
    for name in registry.names("task"):
        try:
            tasks[name] = construct("task", registry.load("task", name))
        except UcdbenchError as exc:
            failed[f"task {name!r}"] = str(exc)
    matrix: dict[str, dict[str, str | None]] = {}
    for method_name in registry.names("method"):
        try:
            method = construct("method", registry.load("method", method_name))
        except UcdbenchError as exc:
            failed[f"method {method_name!r}"] = str(exc)
            matrix[method_name] = {name: f"the method does not load: {exc}" for name in registry.names("task")}
            continue
        row: dict[str, str | None] = {}
        for name in registry.names("task"):
            if name not in tasks:
                row[name] = f"the task does not load: {failed[f'task {name!r}']}"
                continue
            try:
                row[name] = method.supports(tasks[name])
            except Exception as exc:  # the plugin's own code: its bug, not the matrix's
                row[name] = failed[f"method {method_name!r}"] = (
                    f"{method_name}.supports({name}) raised {type(exc).__name__}: {exc}; supports() must return "
                    "None or the reason the method cannot run on the task")
        matrix[method_name] = row
    return matrix, failed


def _print_matrix(registry: Registry, as_json: bool) -> int:
    """The matrix of every method and task that loads, each one that does not marked with its
    reason; exit 2 (the reasons on stderr) when any did not load or a plugin is broken."""
    from tabulate import tabulate

    matrix, failed = support_matrix(registry)
    if as_json:
        print(json.dumps(matrix, indent=2))
    else:
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
    problems = [f"{what} does not load: {why}" for what, why in failed.items()]
    problems += [plugin.broken_message for plugin in registry.broken]
    for problem in problems:
        print(f"ucdbench: error: {problem}", file=sys.stderr)
    return 2 if problems else 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from ucdbench.discovery.registry import load_registry

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

    from ucdbench.authoring.scaffold import new_plugin

    root = new_plugin(args.name, Path(args.dir))
    print(f"wrote {root}/ — next: pip install -e '{root}[test]' && ucdbench check-plugin {args.name}")
    return 0


def cmd_check_plugin(args: argparse.Namespace) -> int:
    from ucdbench.authoring.conformance import check_plugin
    from ucdbench.discovery.registry import load_registry

    registry = load_registry()
    registry.load_named(args.name)  # a name nothing loadable has is the user's to fix: exit 2, with the reason
    checks = []
    for check in check_plugin(args.name, args.task, registry, method=args.method):
        print(check.line(), flush=True)
        checks.append(check)
    failed = sum(not c.passed for c in checks)
    print(f"\n{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _default_cell(row: dict[str, Any], preset: str) -> str:
    text = json.dumps(row["defaults"][preset])
    follows = row["per_task"].get(preset)
    if follows:
        text += " (" + ", ".join(f"task.{follows['task_setting']}={key}: {json.dumps(value)}"
                                 for key, value in follows["values"].items()) + ")"
    return text


def cmd_show_settings(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from ucdbench.discovery.registry import load_registry
    from ucdbench.core.suggestions import did_you_mean

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
                            "per_task": {p: {"task_setting": follows.setting, "values": dict(follows.values)}
                                         for p in PRESETS if (follows := by_preset[p][name].per_task(p))},
                            "allowed": setting.allowed(), "help": setting.help}
                           for name, setting in by_preset[PRESETS[0]].items()]
    if args.json:
        print(json.dumps(described, indent=2, default=str))
        return 0
    for kind, rows in described.items():
        prefix = {"method": "", "task": "task.", "evaluation": f"eval.{args.name}."}[kind]
        print(f"{kind} {args.name!r}: --set {prefix}KEY=VALUE")
        table = [(r["name"], *(_default_cell(r, p) for p in PRESETS), r["allowed"], r["help"]) for r in rows]
        print(tabulate(table, headers=("setting", *PRESETS, "allowed", "help"), disable_numparse=True)
              if table else "  (no settings)")
        print()
    return 0
