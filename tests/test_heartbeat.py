"""Running records carry a heartbeat, so a run whose machine died is resumed from any host."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

from conftest import run_cli
from ucdbench.api import Curves
from ucdbench.discovery.registry import load_registry
from ucdbench.running.runner import Heartbeat, RunSpec, resolve
from ucdbench.running.store import SCHEMA_VERSION, RunStore

LONG_AGO = "2000-01-01T00:00:00+00:00"


def test_the_heartbeat_rewrites_the_running_record_until_it_stops(tmp_path):
    store = RunStore(tmp_path)
    record = {"schema": SCHEMA_VERSION, "key": "k1", "status": "running", "heartbeat_at": LONG_AGO}
    store.write(record)
    with Heartbeat(store, record, interval_s=0.05):
        record["status"] = "ok"  # the run's own record changes meanwhile: the heartbeat writes the running copy
        deadline = time.monotonic() + 10
        while store.get("k1")["heartbeat_at"] == LONG_AGO and time.monotonic() < deadline:
            time.sleep(0.05)
    beat = store.get("k1")
    assert beat["status"] == "running" and beat["heartbeat_at"] != LONG_AGO
    assert datetime.now(timezone.utc) - datetime.fromisoformat(beat["heartbeat_at"]) < timedelta(seconds=30)
    store.write({**beat, "heartbeat_at": LONG_AGO})
    time.sleep(0.3)
    assert store.get("k1")["heartbeat_at"] == LONG_AGO  # stopped: it writes nothing after the run ends


def test_curves_logged_while_a_run_fits_reach_its_running_record_between_heartbeats(tmp_path, monkeypatch):
    monkeypatch.setattr("ucdbench.running.runner.LIVE_CURVES_S", 0.05)
    store = RunStore(tmp_path)
    record = {"schema": SCHEMA_VERSION, "key": "k2", "status": "running", "heartbeat_at": LONG_AGO}
    store.write(record)
    curves = Curves()
    with Heartbeat(store, record, interval_s=3600) as heartbeat:  # no heartbeat due: only the curves write
        curves = Curves(on_log=lambda: heartbeat.show_curves(curves.as_dict()))
        curves.log("train_loss", 1, 0.7)
        curves.log("train_loss", 2, 0.4)
        deadline = time.monotonic() + 10
        while len(store.get("k2").get("curves", {}).get("train_loss", [])) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    running = store.get("k2")
    assert running["status"] == "running" and running["curves"] == {"train_loss": [[1.0, 0.7], [2.0, 0.4]]}


def test_a_run_of_another_host_whose_heartbeat_stopped_is_resumed(tmp_path):
    key = resolve(load_registry(), RunSpec("base", "digits", "smoke", 0, "cpu", {}, threads=1)).key
    store = RunStore(tmp_path)
    stale = {"schema": SCHEMA_VERSION, "key": key, "status": "running", "host": "a-node-that-died", "pid": 1,
             "started_at": LONG_AGO, "heartbeat_at": LONG_AGO, "method": {"name": "base"}, "task": {"name": "digits"},
             "seed": 0, "preset": "smoke", "overrides": {}}
    store.write(stale)
    args = ("run", "--method", "base", "--preset", "smoke", "--threads", "1")

    left = run_cli(*args, results=tmp_path)
    assert left.returncode == 1 and "interrupted" in left.stderr and "--resume runs it again" in left.stderr
    patient = run_cli(*args, "--resume", "--heartbeat-timeout", str(100 * 365 * 24 * 3600), results=tmp_path)
    assert patient.returncode == 1 and "in progress" in patient.stderr  # a timeout longer than its silence
    resumed = run_cli(*args, "--resume", results=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(store.record_path(key).read_text())["status"] == "ok"
