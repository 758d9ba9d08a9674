"""The conformance kit: one call that checks a plugin the way the harness will use it.

Plugin authors use it through the pytest plugin :mod:`ucdbench.authoring.testing` (the
``ucdbench_conformance`` fixture) or from the command line, ``ucdbench check-plugin NAME``;
both call :func:`check_plugin`. What is checked, for each
thing the plugin registered under that name (a method, task, evaluation or hardware back end):

1. ``registers``: the plugin is not broken, and registering it imports no torch (``ucdbench
   list`` must stay light), checked in a fresh process;
2. ``loads``: the target imports and is a subclass of its interface named as registered;
3. ``settings``: every setting has a default at every preset, and each default passes its own
   setting's check;
4. ``supports`` (methods): ``supports()`` returns None or a reason (a non-empty string) for
   every registered task, and at least one task is supported;
5. ``smoke fit`` (methods): a run at the ``smoke`` preset on the default hardware, on the
   first supported task (or the one given), succeeds;
6. ``evaluations`` (methods): every evaluation's own conformance check
   (``ucdbench.api.Evaluation.conformance_problem``: the complete state rebuilt from the
   artifact equals the scored one, the task reports every metric it declares, ...) finds
   nothing wrong with the smoke run;
7. ``rebuilds`` (methods that store an artifact): in a fresh process, the model rebuilt from the
   artifact file and the task alone scores the run's primary metric to the last digit;
8. ``deterministic`` (methods): the same run again gives the same primary metric and the same
   artifact bytes;
9. ``smoke measure`` (evaluations): on the smoke run of a method it applies to (the first of
   :data:`SMOKE_TRIES` methods whose run it does not skip — those whose papers report its
   figures first — or the ``method`` and ``task`` given), ``measure`` succeeds, its results are
   plain JSON, and its own conformance check finds nothing wrong.

Nothing here names a method, task, evaluation or figure: the primary metric is the task's
declaration, found in whichever evaluation reports it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ucdbench.discovery.defaults import declared_default
from ucdbench.contracts.interfaces import PRESETS, ArtifactKind, UcdbenchError
from ucdbench.discovery.registry import KINDS, Registry, load_registry

SMOKE_TRIES = 4
"""How many methods' smoke runs ``check-plugin EVALUATION`` tries before it asks for a method
the evaluation applies to (``--method``)."""


@dataclass(frozen=True)
class Check:
    """One conformance check: its name, whether it passed, and what it found."""

    name: str
    passed: bool
    detail: str = ""

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}" + (f": {self.detail}" if self.detail else "")


def _kinds_of(registry: Registry, name: str) -> list[str]:
    return [kind for kind in KINDS if name in registry.entries[kind]]


def _fresh_process(code: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def check_registration(registry: Registry, name: str) -> Iterator[Check]:
    kinds = _kinds_of(registry, name)
    if not kinds:
        broken = [p for p in registry.broken]
        hint = "; broken plugins: " + "; ".join(f"{p.name}: {p.error}" for p in broken) if broken else ""
        yield Check("registers", False, f"nothing is registered as {name!r} (see `ucdbench plugins`){hint}")
        return
    plugins = sorted({registry.entries[kind][name].plugin for kind in kinds})
    code = ("import sys, json; from ucdbench.api import load_registry; load_registry(); "
            "print(json.dumps(sorted(m for m in ('torch', 'timm', 'transformers') if m in sys.modules)))")
    result = _fresh_process(code, env={"UCDBENCH_PLUGINS": ",".join(plugins)})
    heavy = json.loads(result.stdout or "null") if result.returncode == 0 else None
    if heavy is None:
        yield Check("registers", False, f"loading the plugins failed in a fresh process: {result.stderr[-500:]}")
    elif heavy:
        yield Check("registers", False, f"registering the plugins imports {', '.join(heavy)}: give register() a "
                                        "'module:attribute' string instead of the class, and keep heavy imports "
                                        "out of the registration module")
    else:
        yield Check("registers", True, f"as {' and '.join(kinds)}; registration imports no torch")


def check_loading_and_settings(registry: Registry, kind: str, name: str) -> Iterator[Check]:
    try:
        target = registry.load(kind, name)
    except UcdbenchError as exc:
        yield Check(f"{kind} loads", False, str(exc))
        return
    yield Check(f"{kind} loads", True, f"{target.__module__}.{target.__qualname__}")
    if kind in ("hardware", "sink"):  # no settings to check
        return
    problems = []
    for preset in PRESETS:
        try:
            settings = target.declared_settings(preset)
            defaults = target.defaults(preset)
        except Exception as exc:  # a plugin's own bug: report it, do not crash the kit
            problems.append(f"{preset}: {type(exc).__name__}: {exc}")
            continue
        if set(settings) != set(defaults):
            problems.append(f"{preset}: settings without a default: {sorted(set(settings) - set(defaults))}")
        for key, value in defaults.items():
            problem = settings[key].problem(value) if key in settings else "not declared"
            if problem:
                problems.append(f"{preset}: default {key}={value!r}: {problem}")
    count = len(target.declared_settings(PRESETS[0])) if not problems else 0
    yield Check("settings", not problems, "; ".join(problems) or f"{count} settings, defaults valid at every preset")


def supported_tasks(registry: Registry, method_name: str) -> tuple[dict[str, str | None], list[str]]:
    """task → None or the reason, and problems with the answers themselves."""
    method = registry.load("method", method_name)()
    answers: dict[str, str | None] = {}
    problems = []
    for task_name in registry.names("task"):
        try:
            task_cls = registry.load("task", task_name)
            task = task_cls("smoke", 0, task_cls.defaults("smoke"))
        except UcdbenchError:
            continue  # the task's own plugin is at fault, not this method
        answer = method.supports(task)
        if answer is not None and (not isinstance(answer, str) or not answer.strip()):
            problems.append(f"supports({task_name!r}) returned {answer!r}: return None or a reason")
        answers[task_name] = answer
    return answers, problems


def _run(registry: Registry, method: str, task: str, results: Path, seed: int) -> dict[str, Any]:
    from ucdbench.running.executors import run_all
    from ucdbench.running.runner import RunSpec
    from ucdbench.running.store import RunStore

    hardware = declared_default(registry, "hardware")
    records = list(run_all(registry, [RunSpec(method, task, "smoke", seed, hardware, {})], RunStore(results), force=True))
    return records[0]


def primary_figure(record: dict[str, Any]) -> str:
    """The figure a run is scored by: the task's primary metric, on transformed inputs where the
    run's artifact is an input transform (an attack scores its target's model under the patch)."""
    transformed = record.get("artifact_kind") == ArtifactKind.INPUT_TRANSFORM.value
    return record["task"]["primary_metric"] + ("_transformed" if transformed else "")


def primary_score(record: dict[str, Any]) -> Any:
    """The run's :func:`primary_figure`, from whichever evaluation reports it (None where none does)."""
    primary = primary_figure(record)
    return next((results[primary] for results in record["evaluations"].values() if primary in results), None)


def _sha256(path: str | None) -> str | None:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None


def check_method_runs(registry: Registry, name: str, task: str | None, workdir: Path) -> Iterator[Check]:
    answers, problems = supported_tasks(registry, name)
    supported = [t for t, reason in answers.items() if reason is None]
    if problems or not supported:
        yield Check("supports", False, "; ".join(problems) or "supports() refuses every registered task")
        return
    yield Check("supports", True, f"runs on {', '.join(supported)}; refuses {len(answers) - len(supported)} with reasons")
    task = task or supported[0]
    if task not in supported:
        yield Check("smoke fit", False, f"{name} does not support {task!r}: {answers.get(task, 'no such task')}")
        return
    first = _run(registry, name, task, workdir / "first", seed=0)
    if first["status"] != "ok":
        yield Check("smoke fit", False, f"on {task}: {first.get('error')}")
        return
    primary, score = primary_figure(first), primary_score(first)
    yield Check("smoke fit", True, f"on {task}: {primary} {score}")
    yield evaluation_checks(registry, first)
    yield from _check_rebuild(first, primary, score)
    second = _run(registry, name, task, workdir / "second", seed=0)
    same = (second["status"] == "ok" and primary_score(second) == score
            and _sha256(first.get("artifact")) == _sha256(second.get("artifact")))
    yield Check("deterministic", same, f"same seed, same {primary} and artifact bytes" if same else
                f"same seed gave {primary} {score} then {primary_score(second)}, "
                f"artifacts {'equal' if _sha256(first.get('artifact')) == _sha256(second.get('artifact')) else 'differ'}: "
                "seed every random draw from the run's seed (ctx.seed)")


def _conformance_problem(registry: Registry, evaluation: str, record: dict[str, Any]) -> str | None:
    """What ``evaluation``'s own check finds wrong with the run of ``record`` (its bugs included)."""
    try:
        return registry.load("evaluation", evaluation)().conformance_problem(record["evaluations"].get(evaluation),
                                                                              record)
    except Exception as exc:  # a plugin's own bug: report it, do not crash the kit
        return f"its conformance_problem() raised {type(exc).__name__}: {exc}"


def evaluation_checks(registry: Registry, record: dict[str, Any]) -> Check:
    """Every evaluation of the run (measured or skipped), asked what is wrong with it."""
    names = list(dict.fromkeys([*record["evaluations"], *record.get("skipped", {})]))
    problems = [f"{name}: {problem}" for name in names if (problem := _conformance_problem(registry, name, record))]
    return Check("evaluations", not problems, "; ".join(problems) or f"{len(names)} evaluations find nothing wrong")


def _check_rebuild(record: dict[str, Any], primary: str, score: Any) -> Iterator[Check]:
    if not record.get("artifact"):
        yield Check("rebuilds", True, "stores no artifact: nothing to rebuild")
        return
    if score is None:
        yield Check("rebuilds", False, f"no evaluation reported the task's primary metric {primary!r} to compare the "
                                       "rebuilt model's score with")
        return
    code = ("import json, sys; from ucdbench.api import rebuilt_scores; "
            f"print(json.dumps(rebuilt_scores(json.load(open(sys.argv[1])))[{primary!r}]))")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(record, handle)
    result = subprocess.run([sys.executable, "-c", code, handle.name], capture_output=True, text=True, timeout=600)
    Path(handle.name).unlink()
    if result.returncode != 0:
        yield Check("rebuilds", False, "rebuilding from the file in a fresh process failed: "
                                       + (result.stderr.strip().splitlines() or ["?"])[-1])
        return
    rebuilt = json.loads(result.stdout.strip().splitlines()[-1])
    exact = rebuilt == score or (isinstance(rebuilt, float) and math.isnan(rebuilt) and math.isnan(score))
    yield Check("rebuilds", exact, f"fresh process from the file scores {primary} {rebuilt}"
                + ("" if exact else f", the run scored {score}"))


def _reports(registry: Registry, method: str, evaluation: str) -> bool:
    """Whether ``method``'s paper reports a figure of ``evaluation`` (so the evaluation applies to it)."""
    try:
        return any(figure.metric.startswith(f"{evaluation}/") for figure in registry.load("method", method).reported)
    except UcdbenchError:
        return False


def _candidates(registry: Registry, evaluation: str, method: str | None,
                task: str | None) -> tuple[list[tuple[str, str]], str | None]:
    """(method, task) smoke runs to measure ``evaluation`` on — each method (or the one given;
    first those whose papers report its figures, then in name order) on ``task``, else on the
    default task where it runs there, else on its first supported — and why the method given
    has none."""
    try:
        default = task or declared_default(registry, "task")
    except UcdbenchError:
        default = None
    pairs = []
    names = [method] if method else sorted(registry.names("method"), key=lambda m: not _reports(registry, m, evaluation))
    for name in names:
        try:
            answers, _ = supported_tasks(registry, name)
        except UcdbenchError as exc:  # the method's own plugin is at fault, not the evaluation
            if method:
                return [], str(exc)
            continue
        supported = [t for t, reason in answers.items() if reason is None]
        if default in supported or (supported and task is None):
            pairs.append((name, default if default in supported else supported[0]))
        elif method:
            return [], f"{method} does not support {task or 'any registered task'}" + (
                f": {answers.get(task, 'no such task')}" if task else "")
    return pairs, None


def _plain(value: Any) -> bool:
    return isinstance(value, (bool, int, float, str)) or value is None or (
        isinstance(value, (list, dict)) and all(_plain(v) for v in (value.values() if isinstance(value, dict) else value)))


def check_evaluation_runs(registry: Registry, name: str, method: str | None, task: str | None,
                          workdir: Path) -> Iterator[Check]:
    """``measure`` on the smoke run of the first method it applies to, and its own check."""
    candidates, problem = _candidates(registry, name, method, task)
    if problem:
        yield Check("smoke measure", False, problem)
        return
    skipped = []
    for candidate, on in candidates[:SMOKE_TRIES]:
        record = _run(registry, candidate, on, workdir / f"{candidate}-{on}", seed=0)
        if name in record.get("skipped", {}):
            skipped.append(f"{candidate} on {on}: {record['skipped'][name]}")
            continue
        if record["status"] != "ok":
            yield Check("smoke measure", False, f"on {candidate}'s smoke run on {on}: {record.get('error')}")
            return
        results = record["evaluations"].get(name, {})
        odd = sorted(key for key, value in results.items() if not _plain(value))
        if odd:
            yield Check("smoke measure", False, f"measure() returned values that are not plain JSON (numbers, flags, "
                                                f"strings, None, lists and mappings of them): {', '.join(odd)}")
            return
        yield Check("smoke measure", True, f"on {candidate}'s smoke run on {on}: {len(results)} figures")
        problem = _conformance_problem(registry, name, record)
        yield Check("conformance", problem is None, problem or "its own check finds nothing wrong")
        return
    yield Check("smoke measure", False, "skipped on every smoke run tried (" + "; ".join(skipped or ["none"])
                + "): name a method it applies to, `ucdbench check-plugin NAME --method METHOD [--task TASK]`")


def check_plugin(name: str, task: str | None = None, registry: Registry | None = None,
                 method: str | None = None) -> list[Check]:
    """Every conformance check of what is registered as ``name`` (see the module docstring);
    ``task`` is the smoke runs' task, ``method`` the method an evaluation is measured on."""
    registry = registry or load_registry()
    checks = list(check_registration(registry, name))
    if not checks[-1].passed and not _kinds_of(registry, name):
        return checks
    for kind in _kinds_of(registry, name):
        checks += check_loading_and_settings(registry, kind, name)
        if kind in ("method", "evaluation") and all(c.passed for c in checks):
            with tempfile.TemporaryDirectory(prefix="ucdbench-check-") as workdir:
                checks += (check_method_runs(registry, name, task, Path(workdir)) if kind == "method" else
                           check_evaluation_runs(registry, name, method, task, Path(workdir)))
    return checks


def assert_conforms(name: str, task: str | None = None) -> list[Check]:
    """:func:`check_plugin`, raising an AssertionError that lists every failed check."""
    checks = check_plugin(name, task)
    failed = [c for c in checks if not c.passed]
    assert not failed, f"{name!r} fails the ucdbench conformance kit:\n" + "\n".join(c.line() for c in failed)
    return checks
