"""The sink plugin kind: the fifth hook, ``--sink NAME[=TARGET]`` and ``sinks = [...]``, and what a
sink is handed of each recorded run. A sink that raises or cannot be reached is reported, in the
record's ``sinks`` section and on stderr, and costs no run. (The built-in sinks against the real
MLflow, TensorBoard and W&B: tests/test_sink_backends.py.)"""

from __future__ import annotations

import time
import types

import pytest

from ucdbench.api import Sink, UcdbenchError, hookimpl
from ucdbench.cli.experiments import load_experiment
from ucdbench.discovery.registry import load_registry
from ucdbench.running.sinks import SinkRequest, SinkSession, figures_of
from ucdbench.running.store import SCHEMA_VERSION, RunStore


def _record(key: str, status: str = "ok", artifact: str | None = None) -> dict:
    """A recorded run as the runner writes one, cut to what sinks read."""
    return {"schema": SCHEMA_VERSION, "key": key, "status": status, "error": None if status == "ok" else "boom",
            "method": {"name": "lora", "config": {"rank": 4, "targets": ["q", "v"]}},
            "task": {"name": "digits", "config": {"model": "vit"}}, "preset": "smoke", "seed": 1,
            "hardware_plugin": "cpu", "threads": 1, "code": "c0de", "hardware": {"kind": "cpu", "name": "Some CPU"},
            "environment": {"git_commit": "abc123"}, "curves": {"train_loss": [[1.0, 0.9], [1.5, 0.4]]},
            "evaluations": {"accuracy": {"top1": 0.75, "raw": [1, 2], "dtype": "float32", "nan": float("nan")}},
            "method_metrics": {"train_loss": 0.4, "converged": True}, **({"artifact": artifact} if artifact else {})}


class Recording(Sink):
    """Keeps every call it gets."""

    name = "recording"
    calls: list = []

    def open(self, target, experiment):
        self.calls.append(("open", target, experiment))

    def start(self, run):
        self.calls.append(("start", run.key, dict(run.params), dict(run.tags), run.experiment))

    def curve(self, run, name, points):
        self.calls.append(("curve", name, list(points)))

    def finish(self, run, figures, artifact):
        self.calls.append(("finish", dict(figures), artifact))

    def fail(self, run, error):
        self.calls.append(("fail", error))


class Raising(Sink):
    name = "raising"

    def start(self, run):
        raise ConnectionError("tracker went away")

    def finish(self, run, figures, artifact):
        raise AssertionError("never reached")


class Closed(Raising):
    """A sink whose server is down when the invocation starts."""

    name = "closed"

    def open(self, target, experiment):
        raise ConnectionRefusedError(f"nothing listens at {target}")


class Missing(Recording):
    name = "missing"

    def unavailable_reason(self):
        return "its package is not installed; pip install 'ucdbench[missing]'"


@hookimpl
def ucdbench_register_sinks(register):
    for cls in (Recording, Raising, Closed, Missing):
        register(cls.name, cls, summary=cls.__doc__ or "")


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setenv("UCDBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    Recording.calls = []
    return load_registry(extra=[("test-sinks", types.SimpleNamespace(ucdbench_register_sinks=ucdbench_register_sinks))])


def _session(registry, *requests: str, warnings: list | None = None) -> SinkSession:
    session = SinkSession(registry, [SinkRequest.parse(r) for r in requests], "study",
                          warn=(warnings if warnings is not None else []).append)
    session.open()
    return session


def test_a_sink_gets_the_configuration_the_curves_then_the_figures_and_the_artifact(registry, tmp_path):
    store = RunStore(tmp_path)
    store.write(_record("k" * 16, artifact=str(tmp_path / "a.safetensors")))
    _session(registry, "recording=somewhere").deliver({"key": "k" * 16}, store)
    opened, start, *curves, finish = Recording.calls
    assert opened == ("open", "somewhere", "study")
    assert start[2] == {"method": "lora", "task": "digits", "preset": "smoke", "seed": 1, "hardware": "cpu",
                        "threads": 1, "method.rank": 4, "method.targets": ["q", "v"], "task.model": "vit"}
    assert start[3] == {"ucdbench": "k" * 16, "code": "c0de", "hardware": "Some CPU", "commit": "abc123"}
    assert curves == [("curve", "train_loss", [(1.0, 0.9), (1.5, 0.4)])]
    assert finish == ("finish", {"accuracy/top1": 0.75, "method/train_loss": 0.4}, tmp_path / "a.safetensors")
    assert store.get("k" * 16)["sinks"]["recording"]["status"] == "ok"


def test_a_failed_fit_reaches_the_sink_as_a_failure_and_a_delivered_run_is_not_sent_again(registry, tmp_path):
    store = RunStore(tmp_path)
    store.write(_record("f" * 16, status="failed"))
    session = _session(registry, "recording")
    session.deliver({"key": "f" * 16}, store)
    session.deliver({"key": "f" * 16}, store)
    assert [call[0] for call in Recording.calls] == ["open", "start", "curve", "fail"]
    assert Recording.calls[-1] == ("fail", "boom")


def test_a_sink_that_raises_is_reported_and_the_run_and_the_other_sinks_stand(registry, tmp_path):
    store, warnings = RunStore(tmp_path), []
    store.write(_record("r" * 16))
    _session(registry, "raising", "recording", warnings=warnings).deliver({"key": "r" * 16}, store)
    record = store.get("r" * 16)
    assert record["status"] == "ok" and record["sinks"]["recording"]["status"] == "ok"
    assert record["sinks"]["raising"]["status"] == "failed"
    assert record["sinks"]["raising"]["error"] == "ConnectionError: tracker went away"
    assert warnings == [f"✗ sink 'raising': run {'r' * 10} was not sent: ConnectionError: tracker went away "
                        "(the run and its record stand)"]


def _wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_sink_follows_the_curves_of_a_running_record_then_gets_only_what_it_lacks_at_the_end(registry, tmp_path):
    store, key = RunStore(tmp_path), "l" * 16
    running = {**_record(key), "status": "running", "curves": {"train_loss": [[1.0, 0.9]]}}
    store.write(running)
    session = SinkSession(registry, [SinkRequest.parse("recording")], "study", poll_s=0.02)
    session.open()
    session.follow(key, store)
    _wait_for(lambda: len(Recording.calls) >= 3)
    assert [call[0] for call in Recording.calls] == ["open", "start", "curve"]  # before the run has ended
    assert Recording.calls[2] == ("curve", "train_loss", [(1.0, 0.9)])
    store.write({**running, "curves": {"train_loss": [[1.0, 0.9], [2.0, 0.5]], "val_top1": [[2.0, 0.6]]}})
    _wait_for(lambda: len(Recording.calls) >= 5)
    assert Recording.calls[3:] == [("curve", "train_loss", [(2.0, 0.5)]), ("curve", "val_top1", [(2.0, 0.6)])]
    store.write({**running, "status": "ok", "curves": {"train_loss": [[1.0, 0.9], [2.0, 0.5], [3.0, 0.3]],
                                                       "val_top1": [[2.0, 0.6]]}})
    session.deliver({"key": key}, store)
    session.close()
    assert [call[0] for call in Recording.calls[5:]] == ["curve", "finish"]  # one start; each point once
    assert Recording.calls[5] == ("curve", "train_loss", [(3.0, 0.3)])
    assert store.get(key)["sinks"]["recording"]["status"] == "ok"


def test_a_run_measured_again_reaches_a_sink_that_took_it_with_its_new_figures_only(registry, tmp_path):
    store, key = RunStore(tmp_path), "e" * 16
    store.write(_record(key))
    session = _session(registry, "recording")
    session.deliver({"key": key}, store)
    record = store.get(key)
    record["evaluations"]["knn"] = {"knn_top1": 0.5}  # what `ucdbench evaluate` adds
    store.write(record)
    session.deliver({"key": key}, store)
    session.deliver({"key": key}, store)  # nothing new: not sent a third time
    assert [call[0] for call in Recording.calls] == ["open", "start", "curve", "finish", "start", "finish"]
    assert Recording.calls[-1][1] == {"accuracy/top1": 0.75, "knn/knn_top1": 0.5, "method/train_loss": 0.4}


def test_a_sink_that_cannot_be_opened_is_told_once_and_every_record_says_so(registry, tmp_path):
    store, warnings = RunStore(tmp_path), []
    for key in ("a" * 16, "b" * 16):
        store.write(_record(key))
    session = _session(registry, "closed=http://127.0.0.1:9", warnings=warnings)
    for key in ("a" * 16, "b" * 16):
        session.deliver({"key": key}, store)
    session.close()
    assert len(warnings) == 1 and "nothing listens at http://127.0.0.1:9" in warnings[0]
    for key in ("a" * 16, "b" * 16):
        entry = store.get(key)["sinks"]["closed"]
        assert entry["status"] == "failed" and entry["target"] == "http://127.0.0.1:9"
        assert entry["error"].startswith("could not be opened: ConnectionRefusedError")


def test_a_sink_that_cannot_run_here_or_is_unknown_stops_before_any_run(registry):
    with pytest.raises(UcdbenchError, match=r"sink 'missing' cannot run here: .*pip install 'ucdbench\[missing\]'"):
        SinkSession(registry, [SinkRequest("missing")], "study")
    with pytest.raises(UcdbenchError, match="unknown sink 'recordin'. Did you mean 'recording'"):
        SinkSession(registry, [SinkRequest("recordin")], "study")


@pytest.mark.parametrize("text", ["", "=x", "mlflow=", "no spaces"])
def test_a_sink_request_is_name_or_name_equals_target(text):
    with pytest.raises(UcdbenchError, match="give NAME or NAME=TARGET"):
        SinkRequest.parse(text)


def test_a_sink_request_keeps_everything_after_the_first_equals_sign():
    assert SinkRequest.parse("mlflow=http://h:5000/?a=b") == SinkRequest("mlflow", "http://h:5000/?a=b")
    assert SinkRequest.parse("tensorboard") == SinkRequest("tensorboard", None)


def test_figures_are_the_finite_numbers_of_evaluations_and_method_metrics():
    assert figures_of(_record("x" * 16)) == {"accuracy/top1": 0.75, "method/train_loss": 0.4}


def test_an_experiment_file_names_its_sinks_and_a_wrong_entry_names_its_line(tmp_path):
    good = tmp_path / "study.toml"
    good.write_text('[experiment]\nsinks = ["tensorboard", "mlflow=http://127.0.0.1:5000"]\n\n'
                    '[[runs]]\ntask = "digits"\nmethods = ["base"]\n')
    assert load_experiment(good).sinks == [SinkRequest("tensorboard"), SinkRequest("mlflow", "http://127.0.0.1:5000")]
    bad = tmp_path / "bad.toml"
    bad.write_text('[experiment]\npreset = "smoke"\nsinks = "mlflow"\n\n[[runs]]\ntask = "digits"\nmethods = ["base"]\n')
    with pytest.raises(UcdbenchError, match=r"bad.toml:3: \[experiment\] key 'sinks': expected a list"):
        load_experiment(bad)


def test_the_hook_registers_sinks_and_a_target_that_is_not_a_sink_breaks_its_plugin(monkeypatch):
    monkeypatch.setenv("UCDBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")

    @hookimpl
    def not_a_sink(register):
        register("bogus", object)

    registry = load_registry(extra=[
        ("good", types.SimpleNamespace(ucdbench_register_sinks=ucdbench_register_sinks)),
        ("bad", types.SimpleNamespace(ucdbench_register_sinks=not_a_sink))])
    assert registry.names("sink") == ["closed", "missing", "raising", "recording"]
    (broken,) = registry.broken
    assert broken.name == "bad" and "is not a subclass of ucdbench.api.Sink" in broken.error


def test_the_built_in_sinks_are_listed_without_their_packages_imported():
    import subprocess
    import sys

    code = ("import sys; from ucdbench.discovery.registry import load_registry; r = load_registry(); "
            "print(r.names('sink'), [m for m in ('mlflow', 'wandb', 'tensorboard') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['mlflow', 'tensorboard', 'wandb'] []"
