"""One run: resolve → check → key → cache → fit once → measure each evaluation → record.

A run's key says what decides the fitted model (method, task, preset, seed, hardware, threads,
settings, the runs it consumes, and the code of the fit: :mod:`ucdbench.running.fitting` with the
method's, task's and hardware's modules), plus any ``eval.*`` setting the user gave. Each
evaluation is a measurement of that fit under a key of its own (:mod:`ucdbench.running.measuring`), so
an evaluation installed or changed later is measured on the outcome rebuilt from the stored
artifact, and installing one changes no run's key.

Each run is isolated: an exception in the fit (or a diverged loss) is recorded as a failed run
with its error, an exception in an evaluation as that measurement's failure, and the next run
goes on. Many runs are spread by :mod:`ucdbench.running.executors`.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ucdbench.running.cache import config_key
from ucdbench.contracts.capabilities import Capability
from ucdbench.running.fingerprint import code_fingerprint
from ucdbench.contracts.interfaces import PRESETS, Configurable, Method, ReportedFigure, Task, UcdbenchError
from ucdbench.running.machine_lock import work_phase
from ucdbench.running.measuring import (
    MEASURED_ON_ARTIFACT, MEASURED_ON_FIT, PlannedMeasurement, measure, now, plan_measurements, stale,
)
from ucdbench.discovery.registry import Entry, Registry
from ucdbench.running.progress import progress_bar
from ucdbench.contracts.settings import ParsedReference, RunReference, check_settings, task_defaults
from ucdbench.running.store import SCHEMA_VERSION, RunStore
from ucdbench.core.suggestions import did_you_mean

# --------------------------------------------------------------------------------------------
# Configuration: --set key=value
# --------------------------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """``"3"`` → 3, ``"1e-3"`` → 0.001, ``"true"`` → True, ``"[1,2]"`` → [1, 2], else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignments(assignments: Sequence[str]) -> list[dict[str, Any]]:
    """``--set`` items → the grid of override dicts they describe.

    ``key=a,b`` sweeps ``key`` over two values (a JSON list ``key=[a,b]`` is one list value, and
    so is a JSON object ``key={"a":1,"b":2}``).
    Keys are ``name`` (the method's), ``task.name`` or ``eval.<evaluation>.name``.
    """
    axes: dict[str, list[Any]] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UcdbenchError(f"--set {item!r} is not key=value (for example --set lr=1e-3 or --set task.model=cnn)")
        value = value.strip()
        values = [value] if value.startswith(("[", "{")) else value.split(",")
        axes[key.strip()] = [parse_value(v.strip()) for v in values]
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())] or [{}]


def merge_config(configurable: type[Configurable], preset: str, overrides: dict[str, Any], owner: str,
                 task_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The defaults at ``preset`` updated by ``overrides``: an unknown key is an error naming
    the valid ones (with close matches), a value its setting does not allow one naming the
    allowed values. Defaults that follow the task (``PerTask``) are resolved for ``task_config``."""
    settings = configurable.declared_settings(preset)
    unknown = sorted(set(overrides) - set(settings))
    if unknown:
        valid = ", ".join(sorted(settings)) or "none"
        hints = "".join(did_you_mean(k, list(settings)) for k in unknown)
        raise UcdbenchError(f"{owner} has no setting {', '.join(repr(k) for k in unknown)}; its settings: {valid}."
                            f"{hints} (`ucdbench show-settings NAME` lists them)")
    check_settings(settings, overrides, owner)
    per_task = task_defaults(settings, preset, task_config) if task_config is not None else {}
    return {**configurable.defaults(preset), **per_task, **overrides}


# --------------------------------------------------------------------------------------------
# Resolving a run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """What the user asked for, before any plugin is loaded."""

    method: str
    task: str
    preset: str
    seed: int
    hardware: str
    overrides: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None
    """torch's CPU threads for the run; None: this process's default (``OMP_NUM_THREADS``, else
    torch's choice). Part of the run key: CPU float reductions, so results, depend on it."""


def default_threads() -> int:
    """The CPU threads torch would use in this process."""
    import torch

    return torch.get_num_threads()


@dataclass
class Reference:
    """One run a run-reference setting names, resolved: a run to execute first (``run``) or one
    already recorded (``run`` is None)."""

    text: str
    key: str
    method: str
    run: ResolvedRun | None = None


@dataclass
class ResolvedRun:
    spec: RunSpec
    method: Entry
    task: Entry
    hardware: Entry
    evaluations: list[Entry]
    method_config: dict[str, Any]
    task_config: dict[str, Any]
    eval_configs: dict[str, dict[str, Any]]
    key: str
    code: str
    """Fingerprint of the code behind the fit (:func:`run_code`); part of ``key``."""
    measurements: list[PlannedMeasurement] = field(default_factory=list)
    """One per evaluation, each with its own key (the run's key, the evaluation, its settings and code)."""
    references: dict[str, list[Reference]] = field(default_factory=dict)
    """Run-reference setting → the runs it names (their keys are part of ``key``)."""


def _versions(entry: Entry) -> dict[str, str]:
    return {"plugin": entry.plugin, "distribution": entry.distribution, "version": entry.version}


MAX_REFERENCE_DEPTH = 4
"""How deep runs may reference runs that reference runs: deeper is taken for a cycle."""


def resolve(registry: Registry, spec: RunSpec, store: RunStore | None = None, _depth: int = 0) -> ResolvedRun:
    """Load the plugins a run needs and check everything that can be checked before running,
    the runs its run-reference settings name included (recorded keys are looked up in
    ``store``, by default the default results folder)."""
    spec = _checked_spec(spec)
    method_entry = registry.get("method", spec.method)
    task_entry = registry.get("task", spec.task)
    hardware_entry = registry.get("hardware", spec.hardware)
    method_cls, task_cls = method_entry.load(), task_entry.load()
    evaluations = [registry.get("evaluation", name) for name in registry.entries["evaluation"]]

    method_over, task_over = _method_and_task_overrides(registry, spec.overrides)
    eval_over = split_evaluation_overrides(spec.overrides)
    task_config = merge_config(task_cls, spec.preset, task_over, f"task {spec.task!r}")
    method_config = merge_config(method_cls, spec.preset, method_over, f"method {spec.method!r}", task_config)
    eval_configs = evaluation_configs(evaluations, spec.preset, eval_over)
    _check_method_runs_on_task(spec, method_cls, task_cls(spec.preset, spec.seed, task_config), method_config)

    references = {name: [_resolve_reference(registry, spec, store, name, parsed, _depth)
                         for parsed in setting.references(method_config[name])]
                  for name, setting in method_cls.declared_settings(spec.preset).items()
                  if isinstance(setting, RunReference)}
    code = run_code(method_entry, task_entry, hardware_entry)
    identity = {
        "method": spec.method, "task": spec.task, "preset": spec.preset, "seed": spec.seed,
        "hardware": spec.hardware, "threads": spec.threads,
        "method_config": method_config, "task_config": task_config,
        "versions": [_versions(e) for e in (method_entry, task_entry, hardware_entry)],
        "code": code,
    }
    if references:
        identity["references"] = {name: [ref.key for ref in refs] for name, refs in references.items()}
    if eval_over:  # settings the user gave an evaluation: another record, so that both are kept
        identity["evaluation_overrides"] = eval_over
    key = config_key(identity)
    return ResolvedRun(spec, method_entry, task_entry, hardware_entry, evaluations, method_config, task_config,
                       eval_configs, key, code, plan_measurements(key, evaluations, eval_configs), references)


def _checked_spec(spec: RunSpec) -> RunSpec:
    """``spec`` with its preset, seed and threads checked, and threads filled in where not given."""
    if spec.preset not in PRESETS:
        raise UcdbenchError(f"unknown preset {spec.preset!r}; choose one of {', '.join(PRESETS)}")
    if isinstance(spec.seed, bool) or not isinstance(spec.seed, int) or spec.seed < 0:
        raise UcdbenchError(f"--seed {spec.seed!r}: a seed is an integer ≥ 0 (for example --seed 0 1 2)")
    if spec.threads is None:
        return replace(spec, threads=default_threads())
    if isinstance(spec.threads, bool) or not isinstance(spec.threads, int) or spec.threads < 1:
        raise UcdbenchError(f"--threads {spec.threads!r}: give a whole number of CPU threads ≥ 1 (for example --threads 1)")
    return spec


def _method_and_task_overrides(registry: Registry,
                               overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--set`` values split into the method's (``KEY``) and the task's (``task.KEY``); an
    ``eval.EVALUATION.KEY`` is only checked to name an installed evaluation and a setting."""
    method_over, task_over = {}, {}
    for key, value in overrides.items():
        if key.startswith("task."):
            task_over[key[5:]] = value
        elif key.startswith("eval."):
            name, _, setting = key[5:].partition(".")
            if name not in registry.entries["evaluation"] or not setting:
                raise UcdbenchError(f"--set {key}: give eval.<evaluation>.<setting>, evaluations: "
                                    + ", ".join(registry.entries["evaluation"]))
        else:
            method_over[key] = value
    return method_over, task_over


def _check_method_runs_on_task(spec: RunSpec, method_cls: type[Method], task: Task,
                               method_config: dict[str, Any]) -> None:
    """The method supports the task, the task's data are at hand, and the method's settings suit
    the task; else a usage error that says why."""
    reason = method_cls().supports(task)
    if reason:
        raise UcdbenchError(f"method {spec.method!r} does not support task {spec.task!r}: {reason}")
    missing = task.unavailable_reason()
    if missing:
        raise UcdbenchError(f"task {spec.task!r}: {missing}")
    problem = method_cls().settings_problem(task, method_config)
    if problem:
        raise UcdbenchError(f"method {spec.method!r} on task {spec.task!r}: {problem}")


def evaluation_configs(evaluations: Sequence[Entry], preset: str,
                       overrides: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each evaluation's settings at ``preset``, with ``overrides[name]`` checked and applied."""
    configs = {}
    for entry in evaluations:
        cls: type[Configurable] = entry.load()
        configs[entry.name] = merge_config(cls, preset, overrides.get(entry.name, {}), f"evaluation {entry.name!r}")
    return configs


def split_evaluation_overrides(overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"eval.latency.batch_size": 1}`` → ``{"latency": {"batch_size": 1}}``."""
    split: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        if key.startswith("eval."):
            name, _, setting = key[5:].partition(".")
            split.setdefault(name, {})[setting] = value
    return split


def _resolve_reference(registry: Registry, spec: RunSpec, store: RunStore | None, name: str,
                       parsed: ParsedReference, depth: int) -> Reference:
    """A run reference → the recorded run of that key, or the run of that method on the same
    task, preset, seed and hardware (the referring run's ``task.*`` overrides, then its own)."""
    where = f"method {spec.method!r}: {name}={parsed.text!r}"
    if parsed.key is not None:
        store = store or RunStore()
        record = store.get(parsed.key)
        if record is None or record.get("status") != "ok" or not record.get("artifact"):
            found = "no record" if record is None else (f"a {record.get('status')} run" if record.get("status") != "ok"
                                                        else "a run that stored no artifact")
            raise UcdbenchError(f"{where}: {store.runs_dir} holds {found} with that key; give the key of a successful "
                                "run with an artifact (see `ucdbench show KEY`), or a method ('byol:epochs=20')")
        return Reference(parsed.text, parsed.key, record["method"]["name"])
    if depth >= MAX_REFERENCE_DEPTH:
        raise UcdbenchError(f"{where}: runs reference each other more than {MAX_REFERENCE_DEPTH} deep (a cycle?)")
    inherited = {k: v for k, v in spec.overrides.items() if k.startswith("task.")}
    child = RunSpec(parsed.method, spec.task, spec.preset, spec.seed, spec.hardware,
                    {**inherited, **dict(parsed.overrides)}, spec.threads)
    try:
        run = resolve(registry, child, store, depth + 1)
    except UcdbenchError as exc:
        raise UcdbenchError(f"{where}: {exc}") from exc
    return Reference(parsed.text, run.key, parsed.method, run)


def run_code(method: Entry, task: Entry, hardware: Entry) -> str:
    """The fingerprint of the code the fitted model depends on: the method, task and hardware
    modules (with what they import) and :mod:`ucdbench.running.fitting`. Evaluations are not in it:
    each measurement is keyed by its own code (:func:`ucdbench.running.measuring.evaluation_code`)."""
    return code_fingerprint("ucdbench.running.fitting", method.module, task.module, hardware.module)


# --------------------------------------------------------------------------------------------
# Executing a run
# --------------------------------------------------------------------------------------------


def _figure_json(figure: ReportedFigure) -> dict[str, Any]:
    return {**vars(figure), "where": dict(figure.where)}


def execute(run: ResolvedRun, device: str, store: RunStore, force: bool = False) -> dict[str, Any]:
    """Run one resolved run on ``device`` and return its record (also written to ``store``).

    A run recorded ``ok`` is not fitted again (unless ``force``): the measurements it lacks
    (:func:`ucdbench.running.measuring.stale`) are measured on its outcome rebuilt from the artifact,
    and the record is returned with ``cached`` true and ``measured`` naming them."""
    cached = store.get(run.key)
    if cached is not None and cached.get("status") == "ok" and not force:
        missing = stale(run.measurements, cached)
        if missing:
            return remeasure(cached, run.method, run.task, run.hardware, missing, device, store)
        return {**cached, "cached": True}

    import torch

    from ucdbench.running.environment import environment

    spec = run.spec
    torch.set_num_threads(spec.threads)  # part of the key: a cached result is one these threads give
    task_cls, method_cls, hardware = run.task.load(), run.method.load(), run.hardware.load()()
    record: dict[str, Any] = {
        "schema": SCHEMA_VERSION, "key": run.key, "status": "running", "error": None,
        "method": {"name": spec.method, **_versions(run.method), "config": run.method_config,
                   "reference_row": method_cls.reference_row, "family": method_cls.family,
                   "paper": asdict(method_cls.paper) if method_cls.paper else None},
        "task": {"name": spec.task, **_versions(run.task), "config": run.task_config,
                 "capabilities": [c.__name__ for c in task_cls.__mro__ if issubclass(c, Capability) and c is not Capability],
                 "primary_metric": task_cls.primary_metric,
                 "metrics": [{"name": m.name, "higher_is_better": m.higher_is_better, "unit": m.unit}
                             for m in task_cls.metrics]},
        "hardware": hardware.describe(device), "hardware_plugin": spec.hardware, "threads": spec.threads,
        "preset": spec.preset, "seed": spec.seed, "overrides": spec.overrides, "code": run.code,
        "evaluation_configs": {}, "measurements": {},
        "reported": [_figure_json(f) for f in method_cls.reported
                     if f.applies_to(spec.task, run.method_config, run.task_config)],
        "reported_elsewhere": [_figure_json(f) for f in method_cls.reported
                               if not f.applies_to(spec.task, run.method_config, run.task_config)],
        "reported_unavailable": method_cls.reported_unavailable,
        "environment": environment(),
        "started_at": now(), "pid": os.getpid(), "host": socket.gethostname(),
        "evaluations": {}, "skipped": {}, "method_metrics": {}, "durations": {}, "figures": {},
        "attachments": [],
    }
    if run.references:
        record["references"] = {name: [{"key": ref.key, "method": ref.method, "reference": ref.text} for ref in refs]
                                for name, refs in run.references.items()}
    record["hardware_class"] = hardware.comparison_class(record["hardware"])
    record["heartbeat_at"] = now()
    store.write(record)
    with Heartbeat(store, record) as heartbeat:
        _fit_and_measure(run, record, store, device, task_cls, method_cls, hardware, heartbeat)
    record["finished_at"] = now()
    store.write(record)
    return record


HEARTBEAT_S = 60.0
"""How often a running run's record says it is alive (``heartbeat_at``)."""

LIVE_CURVES_S = 2.0
"""At most how often a running record is rewritten with the training curves logged so far."""


class Heartbeat:
    """While a run executes, rewrite its ``running`` record every :data:`HEARTBEAT_S` seconds
    with a fresh ``heartbeat_at``, so that a driver on another host can tell a run in progress
    from one whose machine died (:func:`ucdbench.running.executors.run_state`), and within
    :data:`LIVE_CURVES_S` of a new training-curve point with the curves so far, so that the
    sinks (which read records, never the worker) follow a fit while it runs. It writes a copy of
    the record as it was when the run started; the final record is written after it stops."""

    def __init__(self, store: RunStore, record: dict[str, Any], interval_s: float = HEARTBEAT_S) -> None:
        import copy
        import threading

        self.store, self.running, self.interval_s = store, copy.deepcopy(record), interval_s
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.curves: dict[str, list[list[float]]] | None = None
        """The curves logged since the running record was last written (None: none)."""
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat {record['key'][:10]}", daemon=True)

    def show_curves(self, curves: dict[str, list[list[float]]]) -> None:
        """The fit's curves so far, for the next write of the running record."""
        with self.lock:
            self.curves = curves

    def _beat(self) -> None:
        import time

        last_beat = time.monotonic()
        while not self.stopped.wait(min(self.interval_s, LIVE_CURVES_S)):
            with self.lock:
                due = time.monotonic() - last_beat >= self.interval_s
                if not due and self.curves is None:
                    continue
                if self.curves is not None:
                    self.running["curves"], self.curves = self.curves, None
                self.running["heartbeat_at"] = now()
                self.store.write(self.running)
            last_beat = time.monotonic()

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()


def _fit_and_measure(run: ResolvedRun, record: dict[str, Any], store: RunStore, device: str, task_cls: Any,
                     method_cls: Any, hardware: Any, heartbeat: Heartbeat) -> None:
    """The fit, then (when it succeeded) every measurement, into ``record``; the curves the fit
    logs reach the running record as it goes (:meth:`Heartbeat.show_curves`)."""
    import torch

    from ucdbench.running.artifacts import write_artifact
    from ucdbench.running.fitting import fit, prepared_task
    from ucdbench.contracts.interfaces import Curves, FitContext

    spec = run.spec
    start = time.perf_counter()
    curves = Curves(on_log=lambda: heartbeat.show_curves(curves.as_dict()))
    try:
        torch_device = torch.device(device)
        tick = time.perf_counter()
        references = {name: [_load_reference(ref, device, store) for ref in refs]
                      for name, refs in run.references.items()}
        if references:
            record["durations"]["references_s"] = time.perf_counter() - tick
        with work_phase():  # no timing on this machine meanwhile (references were fitted above, each in its own)
            tick = time.perf_counter()
            task = prepared_task(task_cls, spec.preset, spec.seed, run.task_config)
            record["durations"]["prepare_s"] = time.perf_counter() - tick
            tick = time.perf_counter()
            ctx = FitContext(device=torch_device, seed=spec.seed, preset=spec.preset, progress=progress_bar,
                             references=references, curves=curves)
            outcome = fit(method_cls(), task, run.method_config, ctx)
            record["durations"]["fit_s"] = time.perf_counter() - tick
        record["method_metrics"] = dict(outcome.metrics)
        record["artifact_kind"] = outcome.kind.value
        if outcome.clean_control is not None:
            record["clean_control"] = {"method": outcome.clean_control.method,
                                       "settings": dict(outcome.clean_control.settings)}
        artifact_path = None
        if outcome.artifact is not None:
            artifact_path = store.artifact_path(run.key)
            write_artifact(artifact_path, outcome.artifact)
            record["artifact"] = str(artifact_path)
        record["status"] = "ok"
    except Exception as exc:
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
    record["durations"]["total_s"] = time.perf_counter() - start
    record["curves"] = curves.as_dict()  # a failed fit's too: the curve up to where it diverged
    if record["status"] == "ok":
        measure(run.measurements, record, task=task, outcome=outcome, hardware=hardware, device=torch_device,
                preset=spec.preset, seed=spec.seed, artifact_path=artifact_path, store=store, on=MEASURED_ON_FIT)


def remeasure(record: dict[str, Any], method: Entry, task: Entry, hardware: Entry,
              planned: Sequence[PlannedMeasurement], device: str, store: RunStore) -> dict[str, Any]:
    """Measure ``planned`` on a recorded run's outcome rebuilt from its artifact file and its
    task (never fitted again), write the record, and return it with ``cached`` true and
    ``measured``: the evaluations measured. A run whose outcome cannot be rebuilt records each
    planned measurement as failed, saying why."""
    import torch

    from ucdbench.running.fitting import prepared_task, rebuilt_outcome

    record = dict(record)
    torch.set_num_threads(int(record.get("threads") or torch.get_num_threads()))
    torch_device = torch.device(device)
    artifact_path = _artifact_file(record, store)
    tick = time.perf_counter()
    try:
        with work_phase():
            task_obj = prepared_task(task.load(), record["preset"], record["seed"], record["task"]["config"])
            outcome = rebuilt_outcome(method.load()(), task_obj, artifact_path, torch_device)
    except Exception as exc:
        error = (f"the outcome could not be rebuilt from the artifact to measure it: {type(exc).__name__}: {exc} "
                 "(`ucdbench run --force` fits the run again)")
        for plan in planned:
            for section in ("evaluations", "skipped", "figures"):
                record.get(section, {}).pop(plan.entry.name, None)
            record.setdefault("measurements", {})[plan.entry.name] = {
                "key": plan.key, "code": plan.code, "version": plan.entry.version, "on": MEASURED_ON_ARTIFACT,
                "status": "failed", "error": error, "traceback": traceback.format_exc(), "measured_at": now()}
    else:
        record.setdefault("durations", {})["rebuild_s"] = time.perf_counter() - tick
        measure(planned, record, task=task_obj, outcome=outcome, hardware=hardware.load()(), device=torch_device,
                preset=record["preset"], seed=record["seed"], artifact_path=artifact_path, store=store,
                on=MEASURED_ON_ARTIFACT)
    store.write(record)
    return {**record, "cached": True, "measured": [plan.entry.name for plan in planned]}


def _artifact_file(record: Mapping[str, Any], store: RunStore) -> Path | None:
    """A recorded run's artifact file: in ``store`` under its key (results folders merge by
    copying, so the path the run wrote may be another machine's), else where it was written;
    None for a run that stored none."""
    if not record.get("artifact"):
        return None
    here = store.artifact_path(record["key"])
    return here if here.exists() else Path(record["artifact"])


def update_measurements(registry: Registry, record: dict[str, Any], store: RunStore, only: Sequence[str] = (),
                        force: bool = False) -> dict[str, Any]:
    """Bring a recorded run's measurements up to date with the installed evaluations (``only``:
    these evaluations; ``force``: measure them even where current), on its outcome rebuilt
    from its artifact, on the first device of the hardware it ran on. Returns the record as
    :func:`remeasure` does (``measured`` empty when nothing was stale)."""
    if record.get("status") != "ok":
        raise UcdbenchError(f"run {record.get('key', '?')[:10]} is {record.get('status')!r}, not ok: there is no fit to "
                            "measure; `ucdbench run` fits it again")
    names = list(only) or list(registry.entries["evaluation"])
    evaluations = [registry.get("evaluation", name) for name in names]
    configs = evaluation_configs(evaluations, record["preset"], split_evaluation_overrides(record.get("overrides", {})))
    planned = plan_measurements(record["key"], evaluations, configs)
    missing = list(planned) if force else stale(planned, record)
    if not missing:
        return {**record, "cached": True, "measured": []}
    hardware = registry.get("hardware", record.get("hardware_plugin") or record["hardware"]["kind"])
    instance = hardware.load()()
    reason = instance.unavailable_reason()
    if reason:
        raise UcdbenchError(f"run {record['key'][:10]} ran on {hardware.name!r}, which is not usable here: {reason}")
    return remeasure(record, registry.get("method", record["method"]["name"]), registry.get("task", record["task"]["name"]),
                     hardware, missing, instance.devices()[0], store)


def _load_reference(reference: Reference, device: str, store: RunStore):
    """Run a referenced run first (or take it from ``store``), then rebuild it from its
    artifact file and its own task alone."""
    import torch

    from ucdbench.contracts.interfaces import ReferencedRun
    from ucdbench.running.rebuild import rebuild_run
    from ucdbench.contracts.state import encoder_of

    record = execute(reference.run, device, store) if reference.run is not None else store.get(reference.key)
    if record is None or record.get("status") != "ok":
        error = record.get("error") if record else "its record is gone"
        raise RuntimeError(f"referenced run {reference.key} ({reference.method}) did not succeed: {error}")
    task, model = rebuild_run(record, torch.device(device))
    model.requires_grad_(False).eval()
    return ReferencedRun(reference.key, reference.method, task, model, encoder_of(task, model), record)


def expand_specs(methods: Sequence[str], task: str, preset: str, seeds: Sequence[int], hardware: str,
                 assignments: Sequence[str], threads: int | None = None) -> list[RunSpec]:
    """Every run one invocation asks for: methods × seeds × the ``--set`` grid."""
    grid = parse_assignments(assignments)
    return [RunSpec(m, task, preset, seed, hardware, overrides, threads)
            for m in methods for overrides in grid for seed in seeds]
