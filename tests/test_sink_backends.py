"""The built-in sinks against the real things: a recorded full-ft run sent to an MLflow tracking
server started here (127.0.0.1, SQLite backend) and read back through MlflowClient, to
TensorBoard event files read back through its event reader, and to W&B offline read back from
its run folder. Each test skips where its extra is not installed (`pip install
'ucdbench[mlflow]'`, `[tensorboard]`, `[wandb]`); the test extra installs none of them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from importlib.util import find_spec
from pathlib import Path

import pytest

from conftest import run_cli
from ucdbench.discovery.registry import load_registry
from ucdbench.running.runner import RunSpec, execute, resolve
from ucdbench.running.sinks import SinkRequest, SinkSession
from ucdbench.running.store import RunStore


def _needs(extra: str) -> pytest.MarkDecorator:
    """Skip where the extra's package is not installed, saying how to install it."""
    return pytest.mark.skipif(find_spec(extra) is None,
                              reason=f"the {extra} sink's package is not installed: pip install 'ucdbench[{extra}]'")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> tuple[RunStore, dict]:
    """One real run, recorded: full-ft on digits at the smoke preset (a curve, figures, an artifact)."""
    store = RunStore(tmp_path_factory.mktemp("results"))
    record = execute(resolve(load_registry(), RunSpec("full-ft", "digits", "smoke", 0, "cpu", {}, threads=1)), "cpu",
                     store)
    assert record["status"] == "ok" and record["curves"]["train_loss"] and record["artifact"]
    return store, record


def _send(store: RunStore, record: dict, sink: str, experiment: str = "study") -> dict:
    session = SinkSession(load_registry(), [SinkRequest.parse(sink)], experiment)
    session.open()
    session.deliver(record, store)
    session.close()
    return store.get(record["key"])["sinks"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """``mlflow server`` on 127.0.0.1 with a SQLite backend store, until the module's tests end."""
    folder, port = tmp_path_factory.mktemp("mlflow"), _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination", str(folder / "artifacts")],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=open(folder / "server.log", "w"))
    uri = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None, (folder / "server.log").read_text()[-2000:]
                time.sleep(0.5)
        else:
            pytest.fail("the MLflow server did not answer in 120 s:\n" + (folder / "server.log").read_text()[-2000:])
        yield uri
    finally:
        server.terminate()
        server.wait(timeout=30)


@_needs("mlflow")
def test_mlflow_holds_the_params_the_curve_with_its_steps_the_figures_tags_and_the_artifact(recorded, mlflow_server,
                                                                                             tmp_path):
    from mlflow import MlflowClient

    store, record = recorded
    assert _send(store, record, f"mlflow={mlflow_server}", "nightly")["mlflow"]["status"] == "ok"
    client = MlflowClient(tracking_uri=mlflow_server)
    (run,) = client.search_runs([client.get_experiment_by_name("nightly").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["method"] == "full-ft" and run.data.params["seed"] == "0"
    assert run.data.params["method.epochs"] == json.dumps(record["method"]["config"]["epochs"])
    assert run.data.tags["ucdbench/ucdbench"] == record["key"] and run.data.tags["ucdbench/code"] == record["code"]
    assert run.data.tags["ucdbench/hardware"] == record["hardware"]["name"]
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert [(m.step, m.value) for m in history] == [(int(-(-e // 1)), v) for e, v in record["curves"]["train_loss"]]
    assert run.data.metrics["accuracy/top1"] == pytest.approx(record["evaluations"]["accuracy"]["top1"])
    name = Path(record["artifact"]).name
    downloaded = client.download_artifacts(run.info.run_id, name, str(tmp_path))
    assert Path(downloaded).read_bytes() == Path(record["artifact"]).read_bytes()


@_needs("mlflow")
def test_an_mlflow_server_that_is_down_costs_no_run_and_the_record_says_why(recorded, tmp_path):
    store, record = recorded
    down = f"http://127.0.0.1:{_free_port()}"
    entry = _send(store, record, f"mlflow={down}")["mlflow"]
    assert entry["status"] == "failed" and entry["target"] == down and "could not be opened" in entry["error"]
    assert store.get(record["key"])["status"] == "ok"


@_needs("mlflow")
def test_run_with_a_sink_that_is_down_exits_0_and_says_so_on_stderr(tmp_path):
    down = f"http://127.0.0.1:{_free_port()}"
    done = run_cli("run", "--method", "base", "--preset", "smoke", "--threads", "1", "--sink", f"mlflow={down}",
                   results=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"✗ sink 'mlflow' ({down}) could not be opened" in done.stderr
    (record,) = RunStore(tmp_path).scan()[0]
    assert record["status"] == "ok" and record["sinks"]["mlflow"]["status"] == "failed"


@_needs("tensorboard")
def test_tensorboard_event_files_hold_the_curve_and_the_figures(recorded, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    store, record = recorded
    assert _send(store, record, f"tensorboard={tmp_path}")["tensorboard"]["status"] == "ok"
    (folder,) = (tmp_path / "study").iterdir()
    events = EventAccumulator(str(folder))
    events.Reload()
    curve = [(e.step, e.value) for e in events.Scalars("curves/train_loss")]
    assert curve == [(int(-(-e // 1)), pytest.approx(v)) for e, v in record["curves"]["train_loss"]]
    (top1,) = events.Scalars("figures/accuracy/top1")
    assert top1.value == pytest.approx(record["evaluations"]["accuracy"]["top1"])


def _wandb_log(path: Path) -> dict:
    """An offline run's ``run-*.wandb`` file read back: its config, history rows and summary.
    The file is a LevelDB-style log of W&B's protobuf records (a 7-byte header, then 32 KiB
    blocks of chunks: crc32, length, type 1 full / 2 first / 3 middle / 4 last), which
    ``wandb sync`` uploads."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    def items(entries) -> dict:
        return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in entries}

    data, pos, payload = path.read_bytes(), 7, b""
    found: dict = {"config": {}, "history": [], "summary": {}}
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        payload = chunk if kind in (1, 2) else payload + chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(payload)
            which = record.WhichOneof("record_type")
            if which == "run":
                found["config"] |= items(record.run.config.update)
            elif which == "config":
                found["config"] |= items(record.config.update)
            elif which == "history":
                found["history"].append(items(record.history.item))
            elif which == "summary":
                found["summary"] |= items(record.summary.update)
    return found


@_needs("wandb")
def test_wandb_offline_keeps_the_config_the_curve_and_the_summary_in_its_run_folder(recorded, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    store, record = recorded
    assert _send(store, record, f"wandb={tmp_path}")["wandb"]["status"] == "ok"
    (log,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    found = _wandb_log(log)
    assert found["config"]["method"] == "full-ft" and found["config"]["tag.ucdbench"] == record["key"]
    curve = [(row["epoch"], row["train_loss"]) for row in found["history"] if "train_loss" in row]
    assert curve == [(pytest.approx(e), pytest.approx(v)) for e, v in record["curves"]["train_loss"]]
    assert found["summary"]["accuracy/top1"] == pytest.approx(record["evaluations"]["accuracy"]["top1"])
