"""Handing runs to the sinks a ``ucdbench run`` or ``ucdbench evaluate`` names (``--sink
NAME[=TARGET]``, or an experiment file's ``sinks = [...]``).

Sinks read records, in the process that reads them (whatever the executor: a Ray or Slurm
worker never talks to a tracker): while a run fits, its running record, which the worker
rewrites with the curves so far (:class:`ucdbench.running.runner.Heartbeat`), is read every few
seconds and the new points go out; once it is recorded, its figures and artifact. So the record
stays the source of truth, and a sink that raises, or whose server is down, costs no run: the
failure is told on stderr and kept in the record's ``sinks`` section (``sinks[NAME]``:
``target``, ``status``, ``error``, ``at``, and a digest of the ``figures`` sent). A run a sink
has taken (``status`` ``ok``, same target, same figures) is not handed to it again, so running an
experiment again sends the sinks only what they lack, and a run measured again since is sent
its new figures.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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


LIVE_POLL_S = 5.0
"""How often the sinks' follower reads the records of runs in progress for new curve points."""


@dataclass
class _Delivery:
    """How far one run has reached one sink: started (while it fitted, or at its end), and how
    many points of each curve it has."""

    run: SinkRun
    sent: dict[str, int] = field(default_factory=dict)
    failed: str | None = None
    """Why handing this run over failed part way (it is not tried again until the run ends)."""


class SinkSession:
    """The sinks of one ``ucdbench run`` (or ``ucdbench evaluate``): each loaded and checked
    before any run starts, opened once, following each run's curves while it fits
    (:meth:`follow`), handed every record, closed at the end."""

    def __init__(self, registry: Registry, requests: Sequence[SinkRequest], experiment: str,
                 warn: Callable[[str], None] | None = None, poll_s: float = LIVE_POLL_S) -> None:
        self.experiment, self.poll_s = experiment, poll_s
        self.warn = warn or (lambda line: print(line, file=sys.stderr, flush=True))
        self.sinks: list[tuple[SinkRequest, Sink]] = []
        self.unreachable: dict[str, str] = {}
        """Sink name → why it could not be opened (every run's record says so)."""
        self.deliveries: dict[tuple[str, str], _Delivery] = {}
        """(run key, sink name) → how far that run has reached that sink."""
        self.lock = threading.Lock()
        """Held around every call into a sink: the follower's and the delivery of ended runs."""
        self.followed: dict[str, RunStore] = {}
        self.stopped = threading.Event()
        self.follower: threading.Thread | None = None
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
        if any(request.name not in self.unreachable for request, _ in self.sinks):
            self.follower = threading.Thread(target=self._follow_all, name="sinks follower", daemon=True)
            self.follower.start()

    def follow(self, key: str, store: RunStore) -> None:
        """Send this run's curves to the sinks while it fits: its running record (which the
        worker rewrites with the curves so far) is read every :data:`LIVE_POLL_S` seconds until
        :meth:`deliver` hands over the ended run."""
        with self.lock:
            self.followed[key] = store

    def _follow_all(self) -> None:
        while not self.stopped.wait(self.poll_s):
            with self.lock:
                for key, store in list(self.followed.items()):
                    record = store.get(key)
                    if record is not None and record.get("status") == "running" and record.get("curves"):
                        self._send_curves(record)

    def _send_curves(self, record: Mapping[str, Any]) -> None:
        """Start the run on each sink it has not reached, then send the points each lacks."""
        for request, sink in self.sinks:
            if request.name in self.unreachable:
                continue
            delivery = self.deliveries.get((record["key"], request.name))
            try:
                if delivery is None:
                    delivery = self.deliveries[(record["key"], request.name)] = _Delivery(
                        sink_run(record, self.experiment))
                    sink.start(delivery.run)
                if delivery.failed is None:
                    _send_new_points(sink, delivery, record)
            except Exception as exc:
                delivery.failed = f"{type(exc).__name__}: {exc}"

    def deliver(self, record: Mapping[str, Any], store: RunStore) -> None:
        """Hand one ended run to every sink that lacks it (never took it, or took other figures:
        ``ucdbench evaluate`` measured it since), and keep how each went in the stored record's
        ``sinks`` section."""
        with self.lock:
            self.followed.pop(record["key"], None)
            stored = store.get(record["key"])
            if stored is None or stored.get("status") not in ("ok", "failed"):
                return
            outcomes = {}
            for request, sink in self.sinks:
                earlier = stored.get("sinks", {}).get(request.name, {})
                taken = earlier.get("status") == "ok" and earlier.get("target") == request.target
                if taken and earlier.get("figures") == _figures_digest(stored):
                    continue
                outcomes[request.name] = self._deliver_one(request, sink, stored, store, again=taken)
            if outcomes:
                stored["sinks"] = {**stored.get("sinks", {}), **outcomes}
                store.write(stored)

    def _deliver_one(self, request: SinkRequest, sink: Sink, record: dict[str, Any], store: RunStore,
                     again: bool) -> dict[str, Any]:
        """One ended run to one sink: started where the follower has not started it, the curve
        points it lacks (none when it is handed ``again``, with new figures), then its end."""
        outcome: dict[str, Any] = {"target": request.target, "status": "ok", "at": now(),
                                   "figures": _figures_digest(record)}
        delivery = self.deliveries.pop((record["key"], request.name), None)
        if request.name in self.unreachable:
            return outcome | {"status": "failed", "error": self.unreachable[request.name]}
        try:
            if delivery is not None and delivery.failed is not None:
                raise RuntimeError(f"while the run fitted: {delivery.failed}")
            run = sink_run(record, self.experiment)
            if delivery is None:
                sink.start(run)
            if not again:
                _send_new_points(sink, _Delivery(run, delivery.sent if delivery else {}), record)
            _end(sink, run, record, _artifact_file(record, store))
            return outcome
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.warn(f"✗ sink {_label(request)}: run {record['key'][:10]} was not sent: {error} (the run and its "
                      "record stand)")
            return outcome | {"status": "failed", "error": error, "traceback": traceback.format_exc()}

    def close(self) -> None:
        self.stopped.set()
        if self.follower is not None:
            self.follower.join()
        for request, sink in self.sinks:
            if request.name in self.unreachable:
                continue
            try:
                sink.close()
            except Exception as exc:
                self.warn(f"✗ sink {_label(request)} did not close: {type(exc).__name__}: {exc}")


def _send_new_points(sink: Sink, delivery: _Delivery, record: Mapping[str, Any]) -> None:
    """The points of each of the record's curves that ``delivery`` has not sent, in order."""
    for name, points in record.get("curves", {}).items():
        new = points[delivery.sent.get(name, 0):]
        if new:
            sink.curve(delivery.run, name, [(float(epoch), float(value)) for epoch, value in new])
            delivery.sent[name] = len(points)


def _end(sink: Sink, run: SinkRun, record: Mapping[str, Any], artifact: Path | None) -> None:
    """A started run's end, as :class:`ucdbench.contracts.sinks.Sink` promises: its figures and
    artifact, or its failure."""
    if run.status == "ok":
        sink.finish(run, figures_of(record), artifact)
    else:
        sink.fail(run, str(record.get("error") or "failed"))


def _figures_digest(record: Mapping[str, Any]) -> str:
    """What tells one set of a run's figures from another: a sink that took a run is handed it
    again once ``ucdbench evaluate`` has changed them."""
    return hashlib.sha256(json.dumps(figures_of(record), sort_keys=True).encode()).hexdigest()[:16]


def _artifact_file(record: Mapping[str, Any], store: RunStore) -> Path | None:
    """The run's artifact in ``store`` under its key, else where the run wrote it; None for none."""
    if not record.get("artifact"):
        return None
    here = store.artifact_path(record["key"])
    return here if here.exists() else Path(record["artifact"])


def _label(request: SinkRequest) -> str:
    return repr(request.name) + (f" ({request.target})" if request.target else "")
