"""The conformance kit: one call that checks a plugin the way the harness will use it.

Plugin authors use it through the pytest plugin :mod:`ucdbench.testing` (the
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
5. ``smoke fit`` (methods): a run at the ``smoke`` preset on the first supported task (or the
   one given) succeeds;
6. ``rebuilds`` (methods that store an artifact): the reconstruction evaluation's complete-state
   check holds, and in a fresh process the model rebuilt from the artifact file and the task
   alone scores the run's primary metric to the last digit;
7. ``deterministic`` (methods): the same run again gives the same figures (primary metric,
   stored bytes) and the same artifact bytes.
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

from ucdbench.interfaces import PRESETS, UcdbenchError
from ucdbench.plugins import KINDS, Registry, load_registry


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
    if kind == "hardware":
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
    from ucdbench.executors import run_all
    from ucdbench.runner import RunSpec
    from ucdbench.store import RunStore

    records = list(run_all(registry, [RunSpec(method, task, "smoke", seed, "cpu", {})], RunStore(results), force=True))
    return records[0]


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
    primary = first["task"]["primary_metric"]
    score = first["evaluations"].get("accuracy", {}).get(primary)
    yield Check("smoke fit", True, f"on {task}: {primary} {score}")
    yield from _check_rebuild(first, primary, score)
    second = _run(registry, name, task, workdir / "second", seed=0)
    same = (second["status"] == "ok"
            and second["evaluations"].get("accuracy", {}).get(primary) == score
            and _sha256(first.get("artifact")) == _sha256(second.get("artifact")))
    yield Check("deterministic", same, f"same seed, same {primary} and artifact bytes" if same else
                f"same seed gave {primary} {score} then {second['evaluations'].get('accuracy', {}).get(primary)}, "
                f"artifacts {'equal' if _sha256(first.get('artifact')) == _sha256(second.get('artifact')) else 'differ'}: "
                "seed every random draw from the run's seed (ctx.seed)")


def _check_rebuild(record: dict[str, Any], primary: str, score: Any) -> Iterator[Check]:
    if not record.get("artifact"):
        yield Check("rebuilds", True, "stores no artifact: nothing to rebuild")
        return
    reconstruction = record["evaluations"].get("reconstruction")
    if reconstruction is None:
        yield Check("rebuilds", False, f"the reconstruction evaluation did not run: {record['skipped'].get('reconstruction')}")
        return
    if not reconstruction.get("weights_equal"):
        yield Check("rebuilds", False, f"the rebuilt state differs from the scored one: "
                                       f"{reconstruction.get('mismatched_names')}")
        return
    code = ("import json, sys, torch; from ucdbench.api import rebuild_run; "
            "record = json.load(open(sys.argv[1])); task, model = rebuild_run(record); "
            f"print(json.dumps(task.evaluate(model, torch.device('cpu'))[{primary!r}]))")
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
    yield Check("rebuilds", exact, f"complete state equal; fresh process from the file scores {primary} {rebuilt}"
                + ("" if exact else f", the run scored {score}"))


def check_plugin(name: str, task: str | None = None, registry: Registry | None = None) -> list[Check]:
    """Every conformance check of what is registered as ``name`` (see the module docstring)."""
    registry = registry or load_registry()
    checks = list(check_registration(registry, name))
    if not checks[-1].passed and not _kinds_of(registry, name):
        return checks
    for kind in _kinds_of(registry, name):
        checks += check_loading_and_settings(registry, kind, name)
        if kind == "method" and all(c.passed for c in checks):
            with tempfile.TemporaryDirectory(prefix="ucdbench-check-") as workdir:
                checks += check_method_runs(registry, name, task, Path(workdir))
    return checks


def assert_conforms(name: str, task: str | None = None) -> list[Check]:
    """:func:`check_plugin`, raising an AssertionError that lists every failed check."""
    checks = check_plugin(name, task)
    failed = [c for c in checks if not c.passed]
    assert not failed, f"{name!r} fails the ucdbench conformance kit:\n" + "\n".join(c.line() for c in failed)
    return checks
