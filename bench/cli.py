"""The ``ucdbench`` command line. Thin: torch and friends load only inside ``run``.

Exit status: 0 when everything asked for succeeded, 1 when a run failed (the others still
ran and were recorded) or ``compare`` found a regression, 2 for a usage error the user can fix
(the message says how).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ucdbench import __version__
from ucdbench.experiments import EXECUTORS
from ucdbench.contracts.interfaces import PRESETS, UcdbenchError

if TYPE_CHECKING:
    from ucdbench.discovery.registry import Collision, Registry

def _results_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", default=None, metavar="DIR",
                        help="results folder (default: $UCDBENCH_RESULTS or ./results)")


def _heartbeat_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--heartbeat-timeout", type=float, default=None, metavar="SECONDS",
                        help="a 'running' record of another host whose heartbeat is older than this is interrupted "
                             "(its machine died) and reruns with --resume (default: the experiment file's [executor] "
                             "heartbeat_timeout_s, else 600)")


def _heartbeat_timeout(args: argparse.Namespace, experiment: Any) -> float:
    from ucdbench.running.executors import HEARTBEAT_TIMEOUT_S

    if args.heartbeat_timeout is not None:
        if not args.heartbeat_timeout > 0:
            raise UcdbenchError(f"--heartbeat-timeout {args.heartbeat_timeout}: give seconds > 0 (for example 600)")
        return args.heartbeat_timeout
    if experiment is not None and experiment.executor.heartbeat_timeout_s is not None:
        return experiment.executor.heartbeat_timeout_s
    return HEARTBEAT_TIMEOUT_S


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

    run = commands.add_parser("run", help="run methods on a task, or an experiment file, and record the results",
                              description="Run every method × seed × --set combination, or every run of an experiment "
                                          "file (-f); each run is recorded, and a run recorded ok is not run again.")
    run.add_argument("-f", "--file", default=None, metavar="TOML",
                     help="an experiment file (experiments/*.toml): its runs instead of --method/--task/--preset/--seed")
    run.add_argument("--method", nargs="+", default=None, metavar="M", help="method name(s), see `ucdbench list`")
    run.add_argument("--task", default=None,
                     help="task name (default: the task that declares itself the default; the built-in one is offline)")
    run.add_argument("--preset", default=None, choices=PRESETS,
                     help="scale: smoke (seconds), small (CPU minutes; default), paper (the paper's setting)")
    run.add_argument("--seed", nargs="+", type=int, default=None, metavar="N", help="one run per seed (default: 0)")
    run.add_argument("--hardware", default=None,
                     help="hardware name, see `ucdbench list` (default: the hardware that declares itself the default)")
    run.add_argument("--threads", type=int, default=None, metavar="N",
                     help="torch CPU threads per run (default: OMP_NUM_THREADS, else torch's choice); part of the "
                          "run key, because CPU results depend on it")
    run.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                     help="override a setting: KEY (method), task.KEY, eval.EVALUATION.KEY; "
                          "KEY=a,b sweeps over values; repeatable")
    _results_option(run)
    run.add_argument("--force", action="store_true", help="run again even if an identical run is recorded")
    run.add_argument("--resume", action="store_true",
                     help="also re-run runs that were interrupted (a 'running' record whose process died, or whose "
                          "heartbeat from another host is older than --heartbeat-timeout)")
    _heartbeat_option(run)
    executors = run.add_argument_group("executors", "where the runs execute (default: the experiment file's "
                                       "[executor], else local: one worker per device of this host)")
    executors.add_argument("--executor", choices=EXECUTORS, default=None)
    executors.add_argument("--retries", type=int, default=2, metavar="N",
                           help="retries of a run lost to the infrastructure (a dead worker, a pre-empted job; "
                                "default 2); a run that fails by itself is not retried")
    executors.add_argument("--process-per-run", action="store_true", default=None,
                           help="local: run each run in a fresh process of its own (what the nightly gate's runs do: "
                                "seeds timed in separate processes, at separate times), not in this one")
    executors.add_argument("--ray-address", default=None, metavar="ADDR",
                           help="ray: the cluster to connect to, HOST:PORT of its head ('auto': the one started on this "
                                "machine; default: start a local one, shut down when ucdbench ends)")
    executors.add_argument("--cpus-per-run", type=float, default=None, metavar="N",
                           help="ray: CPUs each run takes (default: the file's cpus_per_run, else 1)")
    executors.add_argument("--gpus-per-run", type=int, default=None, metavar="N",
                           help="ray: GPUs each run takes (default: the file's gpus_per_run, else what the runs' "
                                "hardware declares)")
    executors.add_argument("--slurm-cluster", choices=("slurm", "local"), default=None,
                           help="slurm: where the jobs go: slurm (default; needs sbatch and srun, as on a login node) "
                                "or local, submitit's dry run (the jobs as processes of this host; no queue, no partition)")
    executors.add_argument("--partition", default=None, help="slurm: the partition")
    executors.add_argument("--time-min", type=int, default=None, metavar="MIN", help="slurm: time limit per job")
    executors.add_argument("--gpus-per-job", type=int, default=None, metavar="N", help="slurm: GPUs per job (default: what the runs' hardware declares)")

    evaluate = commands.add_parser(
        "evaluate", help="measure the evaluations recorded runs lack, on their outcomes rebuilt from the artifacts",
        description="Bring recorded runs up to date with the installed evaluations without fitting them again: each "
                    "evaluation that is new, changed (its code, version or settings) or failed since a run was recorded "
                    "is measured on the run's outcome rebuilt from its artifact file. Give runs (keys, key prefixes or "
                    "record paths), an experiment file (-f), or neither for every ok run of the results folder. Exit "
                    "status: 0 when every measurement succeeded, 1 when one failed (recorded with its traceback), 2 "
                    "for a usage error.")
    evaluate.add_argument("runs", nargs="*", metavar="RUN", help="run keys, key prefixes or record paths")
    evaluate.add_argument("-f", "--file", default=None, metavar="TOML", help="an experiment file: its recorded runs")
    evaluate.add_argument("--evaluation", action="append", default=[], metavar="NAME",
                          help="only this evaluation (repeatable; default: every installed evaluation)")
    evaluate.add_argument("--force", action="store_true", help="measure again even where the measurement is current")
    _results_option(evaluate)

    plan = commands.add_parser("plan", help="what an experiment file would run, what is cached, and how long it may take")
    plan.add_argument("-f", "--file", required=True, metavar="TOML", help="the experiment file")
    _results_option(plan)
    plan.add_argument("--force", action="store_true", help="plan as `run --force` would run")
    plan.add_argument("--resume", action="store_true", help="plan as `run --resume` would run")
    _heartbeat_option(plan)

    board = commands.add_parser("leaderboard", help="write markdown leaderboards and plots from the records")
    _results_option(board)
    board.add_argument("--out", default="leaderboards", metavar="DIR", help="output folder (default: ./leaderboards)")
    board.add_argument("-f", "--file", action="append", default=[], metavar="TOML",
                       help="experiment file(s) whose claims the index judges on these records, and whose views "
                            "lead their tasks' pages; repeatable")
    board.add_argument("--keep-records", action="store_true",
                       help="copy the records behind the pages into OUT/records (compact) and name in the index the "
                            "command that rebuilds the pages from them: pages anyone can audit")

    settings = commands.add_parser("show-settings", help="a method's, task's or evaluation's settings: defaults per "
                                                         "preset, allowed values, help")
    settings.add_argument("name", help="a method, task or evaluation name (see `ucdbench list`)")
    settings.add_argument("--kind", choices=("method", "task", "evaluation"),
                          help="which, where a method, task or evaluation share the name")
    settings.add_argument("--json", action="store_true", help="machine-readable output")

    check = commands.add_parser("check-plugin", help="run the conformance kit on a registered plugin: loads, "
                                                     "settings, supports(), smoke fit, rebuild, determinism; "
                                                     "an evaluation's measure on a smoke run and its own check")
    check.add_argument("name", help="what the plugin registered (a method, task, evaluation or hardware name)")
    check.add_argument("--task", default=None, help="the task of the smoke fit (default: the first supported)")
    check.add_argument("--method", default=None,
                       help="an evaluation's: the method whose smoke run it measures (default: the first it applies to)")

    scaffold = commands.add_parser("new-plugin", help="write a ready method-plugin package (pyproject with the "
                                                      "entry point, a method, a conformance test)")
    scaffold.add_argument("name", help="the method's name, e.g. my-method")
    scaffold.add_argument("--dir", default=".", help="where to write the package folder (default: here)")

    _add_compare_parser(commands)
    _add_publish_parser(commands)

    show = commands.add_parser("show", help="one run's record, readable")
    show.add_argument("run", help="run key, key prefix, or record path")
    _results_option(show)
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
                    "check-plugin": cmd_check_plugin, "new-plugin": cmd_new_plugin, "plan": cmd_plan,
                    "compare": cmd_compare, "publish": cmd_publish, "evaluate": cmd_evaluate}
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


def _requested(args: argparse.Namespace) -> tuple[list[Any], Any]:
    """The runs a ``run`` or ``plan`` invocation asks for, and the experiment file if any."""
    from ucdbench.experiments import load_experiment
    from ucdbench.running.runner import expand_specs

    if getattr(args, "method", None) is None and args.file is None:
        raise UcdbenchError("give --method M [M ...] (see `ucdbench list`) or an experiment file: -f experiments/NAME.toml")
    if args.file is None:
        task, hardware = args.task, args.hardware
        if task is None or hardware is None:
            from ucdbench.discovery.defaults import declared_default
            from ucdbench.discovery.registry import load_registry

            registry = load_registry()
            task = task or declared_default(registry, "task")
            hardware = hardware or declared_default(registry, "hardware")
        return expand_specs(args.method, task, args.preset or "small", args.seed or [0], hardware, args.assignments,
                            getattr(args, "threads", None)), None
    given = [flag for flag, value in (("--method", getattr(args, "method", None)), ("--task", getattr(args, "task", None)),
                                      ("--preset", getattr(args, "preset", None)), ("--seed", getattr(args, "seed", None)),
                                      ("--hardware", getattr(args, "hardware", None)),
                                      ("--threads", getattr(args, "threads", None)),
                                      ("--set", getattr(args, "assignments", None))) if value]
    if given:
        raise UcdbenchError(f"{', '.join(given)} with -f: the experiment file says what runs; edit it, or drop -f")
    experiment = load_experiment(args.file)
    return experiment.runs, experiment


def _executor(args: argparse.Namespace, experiment: Any) -> Any:
    from ucdbench.running.executors import make_executor

    kind = args.executor or (experiment.executor.kind if experiment else "local")
    options = dict(experiment.executor.options) if experiment and experiment.executor.kind == kind else {}
    flags = {"local": {"process_per_run": ("--process-per-run", args.process_per_run)},
             "ray": {"address": ("--ray-address", args.ray_address), "cpus_per_run": ("--cpus-per-run", args.cpus_per_run),
                     "gpus_per_run": ("--gpus-per-run", args.gpus_per_run)},
             "slurm": {"partition": ("--partition", args.partition), "time_min": ("--time-min", args.time_min),
                       "gpus_per_job": ("--gpus-per-job", args.gpus_per_job),
                       "cluster": ("--slurm-cluster", args.slurm_cluster)}}
    options |= {k: v for k, (_, v) in flags.get(kind, {}).items() if v is not None}
    unused = [flag for other, values in flags.items() if other != kind for flag, v in values.values() if v is not None]
    if unused:
        raise UcdbenchError(f"{', '.join(unused)} are options of another executor than {kind!r}")
    if args.retries < 0:
        raise UcdbenchError(f"--retries {args.retries}: give 0 or more")
    return make_executor(kind, options, args.retries)


def _describe_left(run: Any, state: Any, record: dict[str, Any]) -> str:
    from ucdbench.running.executors import RunState

    where = f"pid {record.get('pid')} on {record.get('host', '?')}, last heartbeat {record.get('heartbeat_at', '?')}"
    if state is RunState.INTERRUPTED:
        return f"{run.spec.method} seed {run.spec.seed}: interrupted ({where} is gone); --resume runs it again"
    return f"{run.spec.method} seed {run.spec.seed}: in progress ({where}); left to it"


def cmd_run(args: argparse.Namespace) -> int:
    from ucdbench.running.executors import run_all
    from ucdbench.discovery.registry import load_registry
    from ucdbench.running.store import RunStore

    specs, experiment = _requested(args)
    executor = _executor(args, experiment)
    registry = load_registry()
    for warning in registry.warnings():
        print(f"ucdbench: warning: {warning}", file=sys.stderr, flush=True)
    store = RunStore(args.results)
    records, left = [], []

    def announce(spec, device: str) -> None:
        settings = " ".join(f"{k}={v}" for k, v in spec.overrides.items())
        print(f"→ {spec.method} on {spec.task} [{spec.preset}, seed {spec.seed}, {device}] {settings}".rstrip(),
              file=sys.stderr, flush=True)

    def leave(run, state, record) -> None:
        left.append(run)
        print(f"· {_describe_left(run, state, record)}", file=sys.stderr, flush=True)

    for record in run_all(registry, specs, store, force=args.force, on_start=announce, executor=executor,
                          resume=args.resume, on_left=leave, heartbeat_timeout_s=_heartbeat_timeout(args, experiment)):
        records.append(record)
        _report_failures(record)
    print(summary_table(records))
    if experiment and experiment.claims:
        from ucdbench.reporting.claims import claims_markdown, judge_claims

        print("\nclaims, on every record of these runs' tasks in the results folder:")
        print(claims_markdown(experiment.claims, judge_claims(experiment.claims, store.scan()[0])))
    print(f"\nrecords: {store.runs_dir}/ — `ucdbench show KEY` for one, `ucdbench leaderboard --results {store.root}` for tables")
    return 1 if left or any(not _succeeded(r) for r in records) else 0


def _succeeded(record: dict[str, Any]) -> bool:
    """The run's fit and every measurement of it succeeded."""
    from ucdbench.running.measuring import failed_measurements

    return record["status"] == "ok" and not failed_measurements(record)


def _report_failures(record: dict[str, Any]) -> None:
    """A line on stderr for a failed fit, and one per failed measurement."""
    from ucdbench.running.measuring import failed_measurements

    who = f"{record['method']['name']} seed {record.get('seed')} ({record['key'][:10]})"
    if record["status"] == "failed":
        print(f"✗ {who}: {record['error']}", file=sys.stderr, flush=True)
    for evaluation, error in failed_measurements(record).items():
        print(f"✗ {who}: evaluation {evaluation!r} failed: {error} (the run and its other figures stand; "
              f"`ucdbench show {record['key'][:10]}` has the traceback)", file=sys.stderr, flush=True)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ucdbench.discovery.registry import load_registry
    from ucdbench.running.runner import resolve, update_measurements
    from ucdbench.running.store import RunStore

    if args.runs and args.file:
        raise UcdbenchError("give runs or an experiment file (-f), not both")
    registry = load_registry()
    for name in args.evaluation:
        registry.get("evaluation", name)  # an unknown name is exit 2, with close matches
    store = RunStore(args.results)
    if args.file:
        specs, _ = _requested(args)
        records = [store.get(resolve(registry, spec, store).key) for spec in specs]
        missing = sum(r is None for r in records)
        if missing:
            print(f"ucdbench: {missing} of {len(records)} runs of {args.file} are not recorded; `ucdbench run -f "
                  f"{args.file}` fits them", file=sys.stderr)
        records = [r for r in records if r is not None]
    elif args.runs:
        records = [store.find(run) for run in args.runs]
    else:
        records = [r for r in _scan(store) if r.get("status") == "ok"]
    if not records:
        raise UcdbenchError(f"no recorded runs to evaluate in {store.runs_dir}; run `ucdbench run ...` first or pass "
                            "--results")
    done = []
    for record in records:
        if record.get("status") != "ok":
            print(f"· {record['method']['name']} seed {record.get('seed')} ({record['key'][:10]}): "
                  f"{record.get('status')}, nothing to measure; `ucdbench run` fits it again", file=sys.stderr)
            continue
        updated = update_measurements(registry, record, store, args.evaluation, args.force)
        if updated["measured"]:
            print(f"→ {record['method']['name']} seed {record.get('seed')} ({record['key'][:10]}): measured "
                  + ", ".join(updated["measured"]), file=sys.stderr, flush=True)
        _report_failures(updated)
        done.append(updated)
    measured = sum(len(r["measured"]) for r in done)
    print(summary_table(done))
    print(f"\n{measured} measurements on {sum(bool(r['measured']) for r in done)} of {len(done)} runs; the others "
          "were current")
    return 0 if all(_succeeded(r) for r in done) else 1


def cmd_plan(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from ucdbench.running.executors import RunState, run_state
    from ucdbench.core.formatting import format_number
    from ucdbench.running.measuring import stale
    from ucdbench.discovery.registry import load_registry
    from ucdbench.running.runner import resolve
    from ucdbench.running.store import RunStore

    specs, experiment = _requested(args)
    timeout = _heartbeat_timeout(args, experiment)
    registry = load_registry()
    store = RunStore(args.results)
    resolved = [resolve(registry, spec, store) for spec in specs]
    records, _ = store.scan()
    earlier: dict[tuple[Any, ...], list[float]] = {}  # same run, any seed or code: their durations
    for record in records:
        total = record.get("durations", {}).get("total_s")
        if record.get("status") == "ok" and total is not None:
            earlier.setdefault(_run_identity(record), []).append(total)
    rows, estimate, unknown, counts = [], 0.0, 0, dict.fromkeys(RunState, 0)
    measures = 0
    for run in resolved:
        record = store.get(run.key)
        state = RunState.NEW if args.force else run_state(record, timeout)
        counts[state] += 1
        runs = state is RunState.NEW or state is RunState.FAILED or (state is RunState.INTERRUPTED and args.resume)
        missing = [p.entry.name for p in stale(run.measurements, record)] if state is RunState.DONE else []
        measures += bool(missing)
        seen = earlier.get(_run_identity({"method": {"name": run.spec.method}, "task": {"name": run.spec.task},
                                          "preset": run.spec.preset, "overrides": run.spec.overrides}))
        seconds = sum(seen) / len(seen) if seen else None
        if runs:
            estimate += seconds or 0.0
            unknown += seconds is None
        settings = ", ".join(f"{k}={v}" for k, v in run.spec.overrides.items())
        rows.append((run.key[:10], run.spec.method, run.spec.task, run.spec.preset, run.spec.seed, settings,
                     ("runs" if runs else f"measures {', '.join(missing)}" if missing else "skipped")
                     + f" ({state.value})",
                     format_number(seconds, 3) if seconds is not None else "?"))
    print(tabulate(rows, headers=("run", "method", "task", "preset", "seed", "settings", "plan", "seconds (earlier)"),
                   disable_numparse=True))
    to_run = sum(1 for row in rows if row[6].startswith("runs"))
    print(f"\n{len(rows)} runs: {to_run} to run, {counts[RunState.DONE]} recorded ok"
          + (f", {counts[RunState.IN_PROGRESS]} in progress elsewhere" if counts[RunState.IN_PROGRESS] else "")
          + (f", {counts[RunState.INTERRUPTED]} interrupted" if counts[RunState.INTERRUPTED] else "") + "."
          + (f" {measures} recorded runs lack measurements, which are measured on their stored artifacts without "
             "fitting again." if measures else ""))
    if to_run and unknown == to_run:
        print(f"Estimated time: unknown — the {to_run} runs to run were never recorded before "
              "(no earlier record of the same method, task, preset and settings, at any seed).")
    else:
        print(f"Estimated time: {format_number(estimate, 3)} s of run time (one worker), from earlier records of "
              "the same method, task, preset and settings"
              + (f"; {unknown} runs never recorded before are not counted." if unknown else "."))
    return 0


def _run_identity(record: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two records the same run but for the seed and the code."""
    return (record["method"]["name"], record["task"]["name"], record.get("preset"),
            json.dumps(record.get("overrides", {}), sort_keys=True))


def summary_table(records: list[dict[str, Any]]) -> str:
    """One line per run: what ran and the headline figures its evaluations declared."""
    from tabulate import tabulate

    from ucdbench.core.formatting import format_number

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
        rows.append((r["key"][:10], r["method"]["name"], r["task"]["name"], r.get("seed"), _status(r),
                     *(format_number(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                       for v in values),
                     format_number(total, 3) if total is not None else None))
    headers = ("run", "method", "task", "seed", "status", *headline.values(), "seconds")
    return tabulate(rows, headers=headers, missingval="–", disable_numparse=True)


def _status(record: dict[str, Any]) -> str:
    """``ok``, ``failed``, ``ok (cached)``, ``ok (cached; measured knn)``, ``ok; 1 evaluation failed``."""
    from ucdbench.running.measuring import failed_measurements

    text = record["status"]
    if record.get("cached"):
        measured = record.get("measured")
        text += f" (cached; measured {', '.join(measured)})" if measured else " (cached)"
    failed = failed_measurements(record)
    if failed:
        text += f"; {len(failed)} evaluation{'s' if len(failed) > 1 else ''} failed"
    return text


def _scan(store: Any) -> list[dict[str, Any]]:
    """The records of a results folder; files that are not records this ucdbench reads are
    skipped, and said so on stderr."""
    records, skipped = store.scan()
    if skipped:
        print(f"ucdbench: skipped {len(skipped)} of {len(records) + len(skipped)} files in {store.runs_dir} that are "
              "not run records this ucdbench reads:", file=sys.stderr)
        for file in skipped:
            print(f"  {file.reason}", file=sys.stderr)
    return records


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ucdbench.experiments import load_experiment
    from ucdbench.reporting.leaderboard import write_leaderboards
    from ucdbench.running.store import RunStore

    experiments = [load_experiment(path) for path in args.file]
    claims = [claim for experiment in experiments for claim in experiment.claims]
    views = [view for experiment in experiments for view in experiment.views]
    store = RunStore(args.results)
    records = _scan(store)
    out = Path(args.out)
    audit = (len(records), out, [Path(path) for path in args.file]) if args.keep_records else None
    written = write_leaderboards(records, out, store.root, claims, views, audit)
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


def _add_publish_parser(commands: Any) -> None:
    publish = commands.add_parser(
        "publish", help="a static HTML site of the results: tasks, methods, sortable tables, charts, every record",
        description="Write the results folder's leaderboards as a static site (open OUT/index.html; no server, no "
                    "network): an index of tasks and methods, a page per task with its charts and sortable tables, "
                    "each run's record, attached images, the claims of experiment files and the history of earlier "
                    "results.")
    _results_option(publish)
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
                         help="a `ucdbench compare` report (--out FILE of compare) to link from the index")


def cmd_publish(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ucdbench.experiments import load_experiment
    from ucdbench.reporting.site import append_history, build_site, read_history
    from ucdbench.running.store import RunStore

    if args.append_history and not args.history:
        raise UcdbenchError("--append-history needs --history FILE: the history file to append to")
    compare = Path(args.compare) if args.compare else None
    if compare is not None and not compare.is_file():
        raise UcdbenchError(f"--compare {compare}: no such file; give the report `ucdbench compare --out FILE` wrote")
    experiments = [load_experiment(path) for path in args.file]
    claims = [claim for experiment in experiments for claim in experiment.claims]
    views = [view for experiment in experiments for view in experiment.views]
    store = RunStore(args.results)
    records = _scan(store)
    if not any(r.get("status") == "ok" for r in records):
        raise UcdbenchError(f"no successful runs in {store.runs_dir}; run `ucdbench run ...` first or pass --results")
    history = Path(args.history) if args.history else None
    if history is not None and args.append_history:
        append_history(history, records)
    pages = build_site(records, Path(args.out), store.root, claims, read_history(history) if history else [], compare,
                       views)
    print(f"{pages[0]} ({len(pages) - 1} task pages; open it in a browser)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ucdbench.reporting.accepted import apply_acceptances, load_acceptances
    from ucdbench.reporting.compare import Thresholds, compare_records, load_results, markdown

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
    return 1 if comparison.fails_gate else 0


def cmd_show(args: argparse.Namespace) -> int:
    from ucdbench.running.store import RunStore

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
            if isinstance(value, list) and len(value) > 10:  # raw samples: their count, not a wall of numbers
                print(f"  {key}: {len(value)} values (--json shows them)")
            elif not isinstance(value, dict):
                print(f"  {key}: {value:.6g}" if isinstance(value, float) else f"  {key}: {value}")
    for name, reason in record.get("skipped", {}).items():
        print(f"\n[{name}] skipped: {reason}")
    for name, measurement in record.get("measurements", {}).items():
        if measurement.get("status") == "failed":
            print(f"\n[{name}] failed ({measurement.get('measured_at')}): {measurement.get('error')}\n"
                  + measurement.get("traceback", "").rstrip())
    for attachment in record.get("attachments", []):
        print(f"\nimage ({attachment['evaluation']}): {attachment['file']} — {attachment['caption']}")
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

    from ucdbench.running.cache import cache_dir, cache_kinds, clear_cache_kinds, select_cache_kinds

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
