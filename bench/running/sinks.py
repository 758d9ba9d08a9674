"""Handing recorded runs to the sinks a ``ucdbench run`` names (``--sink NAME[=TARGET]``, or an
experiment file's ``sinks = [...]``).

Sinks read records, after each run is recorded, in the process that reads them (whatever the
executor: a Ray or Slurm worker never talks to a tracker). So the record stays the source of
truth, and a sink that raises, or whose server is down, costs no run: the failure is told on
stderr and kept in the record's ``sinks`` section (``sinks[NAME]``: ``target``, ``status``,
``error``, ``at``). A run a sink has taken (``status`` ``ok``, same target) is not handed to it
again, so running an experiment again sends the sinks only what they lack.
"""

from __future__ import annotations

import math
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.contracts.sinks import Sink, SinkRun
from ucdbench.discovery.registry import NAME_PATTERN, Registry
from ucdbench.running.measuring import now
from ucdbench.running.store import RunStore

RUNS_GIVEN_BY_FLAGS = "ucdbench"
"""The experiment name of runs given by flags rather than an experiment file."""


@dataclass(frozen=True)
class SinkRequest:
    """One ``NAME[=TARGET]``: the sink, and where it sends runs (None: its default)."""

    name: str
    target: str | None = None

    @classmethod
    def parse(cls, text: str) -> SinkRequest:
        name, sep, target = text.partition("=")
        name, target = name.strip(), target.strip()
        if not NAME_PATTERN.fullmatch(name) or (sep and not target):
            raise UcdbenchError(f"--sink {text!r}: give NAME or NAME=TARGET (for example --sink tensorboard or "
                                "--sink mlflow=http://127.0.0.1:5000); `ucdbench list` names the sinks")
        return cls(name, target or None)


def sink_run(record: Mapping[str, Any], experiment: str) -> SinkRun:
    """What a sink is told of a recorded run."""
    method, task = record["method"], record["task"]
    params: dict[str, Any] = {"method": method["name"], "task": task["name"], "preset": record.get("preset"),
                              "seed": record.get("seed"), "hardware": record.get("hardware_plugin"),
                              "threads": record.get("threads")}
    params |= {f"method.{k}": v for k, v in method.get("config", {}).items()}
    params |= {f"task.{k}": v for k, v in task.get("config", {}).items()}
    hardware = record.get("hardware", {})
    tags = {"ucdbench": record["key"], "code": str(record.get("code", "")),
            "hardware": str(hardware.get("name") or hardware.get("kind") or ""),
            "commit": str(record.get("environment", {}).get("git_commit") or "unknown")}
    name = f"{method['name']} {task['name']} seed {record.get('seed')} ({record['key'][:10]})"
    return SinkRun(record["key"], name, experiment, record["status"], params, tags, record)


def figures_of(record: Mapping[str, Any]) -> dict[str, float]:
    """Every finite number a record holds as a figure: ``evaluation/figure`` for each
    evaluation's results, ``method/name`` for the method's own metrics."""
    sections = [(name, results) for name, results in record.get("evaluations", {}).items()]
    sections.append(("method", record.get("method_metrics", {})))
    return {f"{section}/{key}": float(value) for section, results in sections for key, value in results.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}


class SinkSession:
    """The sinks of one ``ucdbench run``: each loaded and checked before any run starts, opened
    once, handed every record, closed at the end."""

    def __init__(self, registry: Registry, requests: Sequence[SinkRequest], experiment: str,
                 warn: Callable[[str], None] | None = None) -> None:
        self.experiment = experiment
        self.warn = warn or (lambda line: print(line, file=sys.stderr, flush=True))
        self.sinks: list[tuple[SinkRequest, Sink]] = []
        self.unreachable: dict[str, str] = {}
        """Sink name → why it could not be opened (every run's record says so)."""
        for request in dict.fromkeys(requests):
            sink = registry.get("sink", request.name).load()()
            reason = sink.unavailable_reason()
            if reason:
                raise UcdbenchError(f"sink {request.name!r} cannot run here: {reason}")
            self.sinks.append((request, sink))

    def open(self) -> None:
        for request, sink in self.sinks:
            try:
                sink.open(request.target, self.experiment)
            except Exception as exc:
                self.unreachable[request.name] = f"could not be opened: {type(exc).__name__}: {exc}"
                self.warn(f"✗ sink {_label(request)} {self.unreachable[request.name]}; no run is sent to it "
                          "(the runs and their records stand)")

    def deliver(self, record: Mapping[str, Any], store: RunStore) -> None:
        """Hand one recorded run to every sink that has not taken it, and keep how each went in
        the stored record's ``sinks`` section."""
        stored = store.get(record["key"])
        if stored is None or stored.get("status") not in ("ok", "failed"):
            return
        outcomes = {}
        for request, sink in self.sinks:
            earlier = stored.get("sinks", {}).get(request.name, {})
            if earlier.get("status") == "ok" and earlier.get("target") == request.target:
                continue
            outcomes[request.name] = self._deliver_one(request, sink, stored, store)
        if outcomes:
            stored["sinks"] = {**stored.get("sinks", {}), **outcomes}
            store.write(stored)

    def _deliver_one(self, request: SinkRequest, sink: Sink, record: dict[str, Any], store: RunStore) -> dict[str, Any]:
        outcome: dict[str, Any] = {"target": request.target, "status": "ok", "at": now()}
        error = self.unreachable.get(request.name)
        if error is None:
            try:
                _hand_over(sink, sink_run(record, self.experiment), record, _artifact_file(record, store))
                return outcome
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                outcome["traceback"] = traceback.format_exc()
                self.warn(f"✗ sink {_label(request)}: run {record['key'][:10]} was not sent: {error} (the run and its "
                          "record stand)")
        return outcome | {"status": "failed", "error": error}

    def close(self) -> None:
        for request, sink in self.sinks:
            if request.name in self.unreachable:
                continue
            try:
                sink.close()
            except Exception as exc:
                self.warn(f"✗ sink {_label(request)} did not close: {type(exc).__name__}: {exc}")


def _hand_over(sink: Sink, run: SinkRun, record: Mapping[str, Any], artifact: Path | None) -> None:
    """One run, in the order :class:`ucdbench.contracts.sinks.Sink` promises."""
    sink.start(run)
    for name, points in record.get("curves", {}).items():
        sink.curve(run, name, [(float(epoch), float(value)) for epoch, value in points])
    if run.status == "ok":
        sink.finish(run, figures_of(record), artifact)
    else:
        sink.fail(run, str(record.get("error") or "failed"))


def _artifact_file(record: Mapping[str, Any], store: RunStore) -> Path | None:
    """The run's artifact in ``store`` under its key, else where the run wrote it; None for none."""
    if not record.get("artifact"):
        return None
    here = store.artifact_path(record["key"])
    return here if here.exists() else Path(record["artifact"])


def _label(request: SinkRequest) -> str:
    return repr(request.name) + (f" ({request.target})" if request.target else "")
