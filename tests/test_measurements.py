"""Fit once, evaluate many: a run's key holds no evaluation; each evaluation is a measurement of
the fit under a key of its own, measured later on the outcome rebuilt from the artifact."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from conftest import THIRD_PARTY, run_cli
from ucdbench.api import read_artifact
from ucdbench.discovery.registry import load_registry
from ucdbench.running.runner import RunSpec, execute, resolve, update_measurements
from ucdbench.running.store import RunStore

EXTRA = THIRD_PARTY / "evaluations"
SMOKE_FT = RunSpec("full-ft", "digits", "smoke", 0, "cpu", {}, threads=1)


def _with_extra_evaluations(*names: str):
    """A registry of the built-ins plus the test distribution's evaluations ``names``."""
    import sys

    sys.path.insert(0, str(EXTRA))
    try:
        from ucdbench_extra_evaluations import faulty, param_norm
    finally:
        sys.path.remove(str(EXTRA))
    modules = {"param-norm": param_norm, "faulty-evaluation": faulty}
    return load_registry(extra=[(name, modules[name]) for name in names])


def _parameter_norm_of_artifact(record: dict) -> float:
    """By hand: full-ft stores the model's whole state; its parameters are the state minus
    the buffers (BatchNorm statistics and counters, which the CNN/ViT of digits may hold)."""
    state = read_artifact(Path(record["artifact"]), torch.device("cpu")).tensors
    task_cls = load_registry().load("task", record["task"]["name"])  # to tell parameters from buffers
    task = task_cls(record["preset"], record["seed"], record["task"]["config"])
    task.prepare()
    names = {name for name, _ in task.base_model(pretrained=False).named_parameters()}
    return sum(float(state[name].double().pow(2).sum()) for name in names) ** 0.5


def test_installing_an_evaluation_changes_no_run_key_only_adds_a_measurement():
    plain = resolve(load_registry(), SMOKE_FT)
    extended = resolve(_with_extra_evaluations("param-norm"), SMOKE_FT)
    assert extended.key == plain.key
    assert {p.entry.name for p in extended.measurements} - {p.entry.name for p in plain.measurements} == {"param-norm"}
    shared = {p.entry.name: p.key for p in plain.measurements}
    assert all(shared[p.entry.name] == p.key for p in extended.measurements if p.entry.name in shared)


def test_an_evaluation_setting_keys_its_measurement_and_its_own_record():
    plain = resolve(load_registry(), SMOKE_FT)
    batch1 = resolve(load_registry(), RunSpec("full-ft", "digits", "smoke", 0, "cpu", {"eval.latency.batch_size": 1},
                                              threads=1))
    assert batch1.key != plain.key  # both records are kept, not one overwriting the other
    latency = {p.entry.name: p for p in batch1.measurements}["latency"]
    assert latency.config["batch_size"] == 1


def test_a_new_evaluation_is_measured_on_the_rebuilt_outcome_without_fitting_again(tmp_path):
    store = RunStore(tmp_path)
    first = execute(resolve(load_registry(), SMOKE_FT), "cpu", store)
    assert first["status"] == "ok" and all(m["on"] == "fit" for m in first["measurements"].values())
    artifact_mtime = Path(first["artifact"]).stat().st_mtime_ns

    run = resolve(_with_extra_evaluations("param-norm"), SMOKE_FT)
    again = execute(run, "cpu", store)
    assert again["cached"] and again["measured"] == ["param-norm"]
    assert again["started_at"] == first["started_at"] and again["durations"]["fit_s"] == first["durations"]["fit_s"]
    assert Path(again["artifact"]).stat().st_mtime_ns == artifact_mtime  # no fit wrote the artifact again
    norm = again["measurements"]["param-norm"]
    assert norm["status"] == "ok" and norm["on"] == "artifact"
    assert again["evaluations"]["param-norm"]["l2"] == pytest.approx(_parameter_norm_of_artifact(again), rel=1e-12)
    assert again["evaluations"]["accuracy"] == first["evaluations"]["accuracy"]  # the others stand as measured

    current = execute(run, "cpu", store)
    assert current["cached"] and "measured" not in current  # current now: a plain cache hit


def test_an_evaluation_measured_again_on_the_artifact_gives_the_fitted_outcome_s_figures(tmp_path):
    store = RunStore(tmp_path)
    registry = load_registry()
    first = execute(resolve(registry, SMOKE_FT), "cpu", store)
    again = update_measurements(registry, first, store, only=["accuracy", "knn", "linear-probe", "flops", "compression"],
                                force=True)
    assert sorted(again["measured"]) == ["accuracy", "compression", "flops", "knn", "linear-probe"]
    for name in again["measured"]:
        assert again["measurements"][name]["on"] == "artifact"
        assert again["evaluations"][name] == first["evaluations"][name], name


def test_a_failing_evaluation_is_its_own_failure_and_the_run_stands(tmp_path):
    store = RunStore(tmp_path)
    record = execute(resolve(_with_extra_evaluations("faulty-evaluation"), SMOKE_FT), "cpu", store)
    assert record["status"] == "ok"
    failed = record["measurements"]["faulty-evaluation"]
    assert failed["status"] == "failed" and "always raises" in failed["error"]
    assert "ValueError" in failed["traceback"] and "faulty.py" in failed["traceback"]
    assert "faulty-evaluation" not in record["evaluations"]
    assert record["evaluations"]["accuracy"]["top1"] > 0 and record["artifact"]
    assert json.loads(store.record_path(record["key"]).read_text())["status"] == "ok"


def _cli_env(*plugins: str) -> dict[str, str]:
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(EXTRA), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1"}
    deny = {"param-norm", "faulty-evaluation"} - set(plugins)
    return env | ({"UCDBENCH_DISABLE_PLUGINS": ",".join(sorted(deny))} if deny else {})


def test_cli_new_and_failing_evaluations_end_to_end(tmp_path):
    args = ("run", "--method", "full-ft", "--preset", "smoke", "--threads", "1")
    fitted = run_cli(*args, results=tmp_path)
    assert fitted.returncode == 0, fitted.stderr
    (path,) = (tmp_path / "runs").glob("*.json")
    before = json.loads(path.read_text())

    plan = run_cli("plan", "-f", _experiment(tmp_path), "--results", str(tmp_path), env=_cli_env("param-norm"))
    assert plan.returncode == 0, plan.stderr
    assert "measures param-norm" in plan.stdout

    added = run_cli(*args, results=tmp_path, env=_cli_env("param-norm"))
    assert added.returncode == 0, added.stderr
    assert "ok (cached; measured param-norm)" in added.stdout
    after = json.loads(path.read_text())
    assert after["started_at"] == before["started_at"] and after["measurements"]["param-norm"]["on"] == "artifact"

    broken = run_cli("evaluate", "--results", str(tmp_path), env=_cli_env("param-norm", "faulty-evaluation"))
    assert broken.returncode == 1
    assert "evaluation 'faulty-evaluation' failed: ValueError: the faulty evaluation always raises" in broken.stderr
    record = json.loads(path.read_text())
    assert record["status"] == "ok" and record["evaluations"]["param-norm"] == after["evaluations"]["param-norm"]

    unknown = run_cli("evaluate", "--evaluation", "acuracy", "--results", str(tmp_path))
    assert unknown.returncode == 2 and "did you mean 'accuracy'" in unknown.stderr.lower()


def _experiment(tmp_path: Path) -> str:
    path = tmp_path / "one.toml"
    path.write_text('[experiment]\npreset = "smoke"\nseeds = [0]\ntask = "digits"\nthreads = 1\n\n'
                    '[[runs]]\nmethods = ["full-ft"]\n')
    return str(path)
