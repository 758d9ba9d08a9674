"""Measuring a fitted run: every evaluation applied to its outcome, each as its own measurement.

A run is fitted once; each evaluation's figures are a *measurement* of that fit, keyed by the
run, the evaluation, its resolved settings, its plugin version and its code
(:func:`measurement_key`). So installing or changing an evaluation measures it, and only it,
on every recorded run (on the outcome rebuilt from the stored artifact,
:meth:`ucdbench.api.Method.rebuild_outcome`), and changes no run's key; an evaluation that
raises is recorded as that measurement's failure, with its traceback, while the run and its
other figures stand.

A record keeps, per evaluation, ``measurements[name]``: ``key``, ``status`` (``ok``,
``skipped`` or ``failed``), ``on`` (``fit``: the outcome fit returned; ``artifact``: the outcome
rebuilt from the stored artifact), ``seconds``, ``measured_at`` and, when it failed, ``error``
and ``traceback``. The figures stay where readers find them: ``evaluations[name]``,
``figures[name]`` (the declared figures), ``skipped[name]`` (the reason).

This module's code is part of every measurement key, and of no run key: it must not import
:mod:`ucdbench.running.fitting` or :mod:`ucdbench.running.runner`.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ucdbench.running.cache import atomic_write_bytes, config_key
from ucdbench.running.fingerprint import code_fingerprint
from ucdbench.contracts.interfaces import Evaluation, EvaluationContext, FigureKind, Hardware, Outcome, Task
from ucdbench.running.machine_lock import timed_phase, work_phase
from ucdbench.discovery.registry import Entry
from ucdbench.running.seeding import seed_everything
from ucdbench.running.store import RunStore

if TYPE_CHECKING:
    import torch

MEASURED_ON_FIT = "fit"
MEASURED_ON_ARTIFACT = "artifact"


@dataclass(frozen=True)
class PlannedMeasurement:
    """One evaluation of one run, resolved: its settings and the key its result is recorded under."""

    entry: Entry
    config: dict[str, Any]
    key: str
    code: str


def evaluation_code(entry: Entry) -> str:
    """The fingerprint of the code an evaluation's figures depend on: its module (with what it
    imports) and this module, which applies it."""
    return code_fingerprint(entry.module, __name__)


def measurement_key(run_key: str, entry: Entry, config: Mapping[str, Any], code: str) -> str:
    return config_key({"run": run_key, "evaluation": entry.name, "config": dict(config), "version": entry.version,
                       "distribution": entry.distribution, "code": code})


def plan_measurements(run_key: str, evaluations: Sequence[Entry], configs: Mapping[str, dict[str, Any]]
                      ) -> list[PlannedMeasurement]:
    """The measurements of run ``run_key``: one per evaluation, with its resolved ``configs[name]``."""
    planned = []
    for entry in evaluations:
        code = evaluation_code(entry)
        planned.append(PlannedMeasurement(entry, configs[entry.name], measurement_key(run_key, entry, configs[entry.name],
                                                                                      code), code))
    return planned


def stale(planned: Sequence[PlannedMeasurement], record: Mapping[str, Any]) -> list[PlannedMeasurement]:
    """The measurements ``record`` lacks: never measured, measured under another key (the
    evaluation's code, version or settings changed), or failed."""
    done = record.get("measurements", {})
    return [p for p in planned if done.get(p.entry.name, {}).get("key") != p.key
            or done[p.entry.name].get("status") == "failed"]


def failed_measurements(record: Mapping[str, Any]) -> dict[str, str]:
    """Evaluation → error, for each measurement of ``record`` that failed."""
    return {name: m.get("error", "") for name, m in record.get("measurements", {}).items() if m.get("status") == "failed"}


def now() -> str:
    """The time, as records keep it (UTC, ISO 8601, to the second)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def measure(planned: Sequence[PlannedMeasurement], record: dict[str, Any], *, task: Task, outcome: Outcome,
            hardware: Hardware, device: torch.device, preset: str, seed: int, artifact_path: Any, store: RunStore,
            on: str) -> None:
    """Apply each planned evaluation to ``outcome`` and write its measurement into ``record``
    (in memory: the caller writes the record). Every generator is seeded with the run's
    ``seed`` before each evaluation, so a figure does not depend on what ran before it. An
    evaluation that raises is that measurement's failure; the next one still runs."""
    for section in ("evaluations", "skipped", "figures", "measurements", "evaluation_configs", "durations"):
        record.setdefault(section, {})
    record.setdefault("attachments", [])
    for plan in planned:
        name = plan.entry.name
        for section in ("evaluations", "skipped", "figures"):
            record[section].pop(name, None)
        record["attachments"] = [a for a in record["attachments"] if a["evaluation"] != name]
        entry: dict[str, Any] = {"key": plan.key, "code": plan.code, "version": plan.entry.version, "on": on}
        tick = time.perf_counter()
        try:
            seed_everything(seed)  # whatever ran before, on the fitted or the rebuilt outcome
            evaluation = plan.entry.load()()
            ctx = EvaluationContext(task=task, outcome=outcome, hardware=hardware, device=device, preset=preset,
                                    config=plan.config, artifact_path=artifact_path, results=record["evaluations"])
            reason = kind_reason(evaluation, outcome) or evaluation.skip_reason(ctx)
            if reason:
                record["skipped"][name] = reason
                entry["status"] = "skipped"
            else:
                with phase_of(evaluation):
                    results = evaluation.measure(ctx)
                figures = [asdict(m) for m in evaluation.declared_figures(ctx)]
                attachments = [_store_attachment(store, record["key"], name, a) for a in ctx.attached.values()]
                record["evaluations"][name] = results
                record["figures"][name] = figures
                record["attachments"] += attachments
                entry["status"] = "ok"
        except Exception as exc:
            entry.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        entry["seconds"] = time.perf_counter() - tick
        entry["measured_at"] = now()
        if entry["status"] == "ok":
            record["durations"][f"{name}_s"] = entry["seconds"]
        else:
            record["durations"].pop(f"{name}_s", None)
        record["measurements"][name] = entry
        record["evaluation_configs"][name] = plan.config


def kind_reason(evaluation: Evaluation, outcome: Outcome) -> str | None:
    """Why ``evaluation`` does not apply to a run whose artifact is of ``outcome``'s kind, or None."""
    if outcome.kind in evaluation.measures:
        return None
    return (f"the run's artifact is {outcome.kind.value}: {evaluation.name} measures "
            + ", ".join(sorted(kind.value for kind in evaluation.measures)))


def phase_of(evaluation: Evaluation) -> AbstractContextManager[None]:
    """The machine lock an evaluation's measurement holds: alone on the machine when it
    declares timing figures (:mod:`ucdbench.running.machine_lock`), shared otherwise."""
    timed = any(FigureKind(m.kind) is FigureKind.TIMING for m in evaluation.figures)
    return timed_phase() if timed else work_phase()


def _store_attachment(store: RunStore, key: str, evaluation: str, attachment: Any) -> dict[str, str]:
    path = store.attachment_path(key, evaluation, attachment.filename)
    atomic_write_bytes(path, attachment.data)
    return {"evaluation": evaluation, "file": path.relative_to(store.root).as_posix(), "caption": attachment.caption}
