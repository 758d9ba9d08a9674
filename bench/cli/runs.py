"""Commands about runs: ``run`` fits and measures them, ``evaluate`` measures what recorded runs
lack, ``plan`` says what ``run`` would do and how long it may take, ``show`` prints one record."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

from ucdbench.cli.common import results_option, scan
from ucdbench.cli.run_options import (executor_for, executor_options, heartbeat_option, heartbeat_timeout,
                                      requested_runs, sink_option, sink_session)
from ucdbench.contracts.interfaces import PRESETS, UcdbenchError


def add_commands(commands: Any) -> None:
    """The group's subcommands, each with its handler."""
    for add in (_add_run_parser, _add_evaluate_parser, _add_plan_parser, _add_show_parser):
        add(commands)


def _add_run_parser(commands: Any) -> None:
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
    results_option(run)
    run.add_argument("--force", action="store_true", help="run again even if an identical run is recorded")
    run.add_argument("--resume", action="store_true",
                     help="also re-run runs that were interrupted (a 'running' record whose process died, or whose "
                          "heartbeat from another host is older than --heartbeat-timeout)")
    heartbeat_option(run)
    sink_option(run)
    executor_options(run)
    run.set_defaults(handler=cmd_run)


def _add_evaluate_parser(commands: Any) -> None:
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
    sink_option(evaluate)
    results_option(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)


def _add_plan_parser(commands: Any) -> None:
    plan = commands.add_parser("plan", help="what an experiment file would run, what is cached, and how long it may take")
    plan.add_argument("-f", "--file", required=True, metavar="TOML", help="the experiment file")
    results_option(plan)
    plan.add_argument("--force", action="store_true", help="plan as `run --force` would run")
    plan.add_argument("--resume", action="store_true", help="plan as `run --resume` would run")
    heartbeat_option(plan)
    plan.set_defaults(handler=cmd_plan)


def _add_show_parser(commands: Any) -> None:
    show = commands.add_parser("show", help="one run's record, readable")
    show.add_argument("run", help="run key, key prefix, or record path")
    results_option(show)
    show.add_argument("--json", action="store_true", help="print the raw JSON record")
    show.set_defaults(handler=cmd_show)


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

    specs, experiment = requested_runs(args)
    executor = executor_for(args, experiment)
    registry = load_registry()
    for warning in registry.warnings():
        print(f"ucdbench: warning: {warning}", file=sys.stderr, flush=True)
    store = RunStore(args.results)
    sinks = sink_session(args, experiment, registry)
    records, left = [], []

    def announce(run, device: str) -> None:
        spec = run.spec
        sinks.follow(run.key, store)
        settings = " ".join(f"{k}={v}" for k, v in spec.overrides.items())
        print(f"→ {spec.method} on {spec.task} [{spec.preset}, seed {spec.seed}, {device}] {settings}".rstrip(),
              file=sys.stderr, flush=True)

    def leave(run, state, record) -> None:
        left.append(run)
        print(f"· {_describe_left(run, state, record)}", file=sys.stderr, flush=True)

    sinks.open()
    try:
        for record in run_all(registry, specs, store, force=args.force, on_start=announce, executor=executor,
                              resume=args.resume, on_left=leave, heartbeat_timeout_s=heartbeat_timeout(args, experiment)):
            records.append(record)
            _report_failures(record)
            sinks.deliver(record, store)
    finally:
        sinks.close()
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
    from ucdbench.running.runner import update_measurements
    from ucdbench.running.store import RunStore

    if args.runs and args.file:
        raise UcdbenchError("give runs or an experiment file (-f), not both")
    registry = load_registry()
    for name in args.evaluation:
        registry.get("evaluation", name)  # an unknown name is exit 2, with close matches
    store = RunStore(args.results)
    records, experiment = _records_to_evaluate(args, registry, store)
    if not records:
        raise UcdbenchError(f"no recorded runs to evaluate in {store.runs_dir}; run `ucdbench run ...` first or pass "
                            "--results")
    sinks = sink_session(args, experiment, registry)
    done = []
    sinks.open()
    try:
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
            sinks.deliver(updated, store)  # a sink that took the run before gets its new figures
            done.append(updated)
    finally:
        sinks.close()
    measured = sum(len(r["measured"]) for r in done)
    print(summary_table(done))
    print(f"\n{measured} measurements on {sum(bool(r['measured']) for r in done)} of {len(done)} runs; the others "
          "were current")
    return 0 if all(_succeeded(r) for r in done) else 1


def _records_to_evaluate(args: argparse.Namespace, registry: Any, store: Any) -> tuple[list[dict[str, Any]], Any]:
    """The records ``evaluate`` was given: an experiment file's (those not recorded said so on
    stderr), the runs named, or else every ok run of the results folder; and the experiment
    file, if one was given."""
    from ucdbench.running.runner import resolve

    if args.file:
        specs, experiment = requested_runs(args)
        records = [store.get(resolve(registry, spec, store).key) for spec in specs]
        missing = sum(r is None for r in records)
        if missing:
            print(f"ucdbench: {missing} of {len(records)} runs of {args.file} are not recorded; `ucdbench run -f "
                  f"{args.file}` fits them", file=sys.stderr)
        return [r for r in records if r is not None], experiment
    if args.runs:
        return [store.find(run) for run in args.runs], None
    return [r for r in scan(store) if r.get("status") == "ok"], None


def cmd_plan(args: argparse.Namespace) -> int:
    from ucdbench.discovery.registry import load_registry
    from ucdbench.running.runner import resolve
    from ucdbench.running.store import RunStore

    specs, experiment = requested_runs(args)
    timeout = heartbeat_timeout(args, experiment)
    registry = load_registry()
    store = RunStore(args.results)
    resolved = [resolve(registry, spec, store) for spec in specs]
    earlier = _earlier_durations(store.scan()[0])
    planned = [_plan_run(run, store.get(run.key), earlier, args.force, args.resume, timeout) for run in resolved]
    print(_plan_table(planned))
    print(_plan_totals(planned))
    return 0


@dataclass(frozen=True)
class _Planned:
    """What ``plan`` says of one run: its state, whether it runs, which evaluations a recorded run
    lacks, and its mean duration in earlier records (None: never recorded)."""

    run: Any
    state: Any
    runs: bool
    missing: list[str]
    seconds: float | None


def _earlier_durations(records: list[dict[str, Any]]) -> dict[tuple[Any, ...], list[float]]:
    """Same run, any seed or code (:func:`_run_identity`) → the durations of its ok records."""
    earlier: dict[tuple[Any, ...], list[float]] = {}
    for record in records:
        total = record.get("durations", {}).get("total_s")
        if record.get("status") == "ok" and total is not None:
            earlier.setdefault(_run_identity(record), []).append(total)
    return earlier


def _plan_run(run: Any, record: dict[str, Any] | None, earlier: dict[tuple[Any, ...], list[float]], force: bool,
              resume: bool, timeout: float) -> _Planned:
    """What ``run`` (with ``--force``, ``--resume`` as given) would do with one resolved run."""
    from ucdbench.running.executors import RunState, run_state
    from ucdbench.running.measuring import stale

    state = RunState.NEW if force else run_state(record, timeout)
    runs = state is RunState.NEW or state is RunState.FAILED or (state is RunState.INTERRUPTED and resume)
    missing = [p.entry.name for p in stale(run.measurements, record)] if state is RunState.DONE else []
    seen = earlier.get(_run_identity({"method": {"name": run.spec.method}, "task": {"name": run.spec.task},
                                      "preset": run.spec.preset, "overrides": run.spec.overrides}))
    return _Planned(run, state, runs, missing, sum(seen) / len(seen) if seen else None)


def _plan_table(planned: list[_Planned]) -> str:
    """One line per run: what it is, what ``run`` would do with it, and how long it took before."""
    from tabulate import tabulate

    from ucdbench.core.formatting import format_number

    rows = []
    for p in planned:
        spec = p.run.spec
        settings = ", ".join(f"{k}={v}" for k, v in spec.overrides.items())
        action = "runs" if p.runs else f"measures {', '.join(p.missing)}" if p.missing else "skipped"
        rows.append((p.run.key[:10], spec.method, spec.task, spec.preset, spec.seed, settings,
                     f"{action} ({p.state.value})", format_number(p.seconds, 3) if p.seconds is not None else "?"))
    return tabulate(rows, headers=("run", "method", "task", "preset", "seed", "settings", "plan", "seconds (earlier)"),
                    disable_numparse=True)


def _plan_totals(planned: list[_Planned]) -> str:
    """How many runs run, are recorded, in progress or interrupted; the estimated time of those that run."""
    from collections import Counter

    from ucdbench.core.formatting import format_number
    from ucdbench.running.executors import RunState

    counts = Counter(p.state for p in planned)
    to_run = sum(p.runs for p in planned)
    unknown = sum(p.runs and p.seconds is None for p in planned)
    estimate = sum((p.seconds or 0.0 for p in planned if p.runs), 0.0)
    measures = sum(bool(p.missing) for p in planned)
    text = (f"\n{len(planned)} runs: {to_run} to run, {counts[RunState.DONE]} recorded ok"
            + (f", {counts[RunState.IN_PROGRESS]} in progress elsewhere" if counts[RunState.IN_PROGRESS] else "")
            + (f", {counts[RunState.INTERRUPTED]} interrupted" if counts[RunState.INTERRUPTED] else "") + "."
            + (f" {measures} recorded runs lack measurements, which are measured on their stored artifacts without "
               "fitting again." if measures else ""))
    if to_run and unknown == to_run:
        return text + (f"\nEstimated time: unknown — the {to_run} runs to run were never recorded before "
                       "(no earlier record of the same method, task, preset and settings, at any seed).")
    return text + (f"\nEstimated time: {format_number(estimate, 3)} s of run time (one worker), from earlier records "
                   "of the same method, task, preset and settings"
                   + (f"; {unknown} runs never recorded before are not counted." if unknown else "."))


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
