"""Experiment files, run states (cached, in progress, interrupted) and the executors that spread runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ucdbench.executors import RunState, run_state
from ucdbench.experiments import load_experiment
from ucdbench.interfaces import UcdbenchError

from conftest import run_cli

SMOKE = """
[experiment]
description = "a smoke experiment"
preset = "smoke"
seeds = [0, 1]

[[runs]]
task = "digits"
methods = ["linear-probe"]
grid = { lr = [0.01, 0.1], epochs = [1, 2] }
zip = { "task.width" = [16, 32], "task.heads" = [2, 4] }

[[claims]]
name = "a higher learning rate trains the head better"
task = "digits"
figure = "accuracy/top1"
better = { method = "linear-probe", set = { lr = 0.1 } }
than = { method = "linear-probe", set = { lr = 0.01 } }
"""


def _write(tmp_path: Path, text: str, name: str = "experiment.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_grid_is_a_product_zip_goes_side_by_side_and_seeds_multiply(tmp_path):
    experiment = load_experiment(_write(tmp_path, SMOKE))
    assert len(experiment.runs) == 2 * 2 * 2 * 2  # lr × epochs × zipped pairs × seeds
    widths = {(r.overrides["task.width"], r.overrides["task.heads"]) for r in experiment.runs}
    assert widths == {(16, 2), (32, 4)}  # zipped, never crossed
    assert {r.preset for r in experiment.runs} == {"smoke"} and {r.seed for r in experiment.runs} == {0, 1}
    (claim,) = experiment.claims
    assert claim.better.settings == {"lr": 0.1} and claim.figure == "accuracy/top1"
    assert experiment.executor.kind == "local"


def test_threads_pin_the_runs_of_a_file_or_of_one_block(tmp_path):
    unpinned = load_experiment(_write(tmp_path, SMOKE))
    assert {r.threads for r in unpinned.runs} == {None}  # this process's default, resolved per run
    pinned = SMOKE.replace("seeds = [0, 1]", "seeds = [0, 1]\nthreads = 1", 1)
    pinned += '[[runs]]\ntask = "digits"\nmethods = ["base"]\nthreads = 2\n'
    experiment = load_experiment(_write(tmp_path, pinned, "pinned.toml"))
    assert {r.threads for r in experiment.runs if r.method == "linear-probe"} == {1}
    assert {r.threads for r in experiment.runs if r.method == "base"} == {2}


@pytest.mark.parametrize("change, line, expected", [
    (("methods = [\"linear-probe\"]", "methods = [\"linear-probe\"]\nlr = 0.1"), 10, "key 'lr': unknown key"),
    (("\"task.heads\" = [2, 4]", "\"task.heads\" = [2]"), 11, "key 'zip': the lists of zip must have equal lengths"),
    (("seeds = [0, 1]", "seeds = [-1]"), 5, "key 'seeds': expected a list of integers"),
    (("seeds = [0, 1]", "seeds = [0, 1]\nthreads = 0"), 6, "key 'threads': expected a whole number of CPU threads"),
    (("figure = \"accuracy/top1\"", "figure = \"top1\""), 16, "key 'figure': expected 'evaluation/figure'"),
    (("grid = { lr = [0.01, 0.1], epochs = [1, 2] }", "grid = { lr = 0.1 }"), 10, "'lr' must be a non-empty list"),
])
def test_a_bad_file_names_its_line_and_key(tmp_path, change, line, expected):
    path = _write(tmp_path, SMOKE.replace(*change))
    with pytest.raises(UcdbenchError) as error:
        load_experiment(path)
    assert f"{path}:{line}:" in str(error.value) and expected in str(error.value)


def test_invalid_toml_and_missing_files_are_usage_errors(tmp_path):
    with pytest.raises(UcdbenchError, match="not valid TOML"):
        load_experiment(_write(tmp_path, "[[runs]\nmethods = 1"))
    with pytest.raises(UcdbenchError, match="no experiment file"):
        load_experiment(tmp_path / "missing.toml")


def test_run_states_come_from_the_records():
    host = socket.gethostname()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert run_state(None) is RunState.NEW
    assert run_state({"status": "ok"}) is RunState.DONE
    assert run_state({"status": "failed"}) is RunState.FAILED
    assert run_state({"status": "running", "pid": os.getpid(), "host": host}) is RunState.IN_PROGRESS
    assert run_state({"status": "running", "pid": dead.pid, "host": host}) is RunState.INTERRUPTED
    from datetime import datetime, timedelta, timezone

    beat = (datetime.now(timezone.utc) - timedelta(seconds=30)).isoformat(timespec="seconds")
    old = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat(timespec="seconds")
    elsewhere = {"status": "running", "pid": dead.pid, "host": "another-node"}
    assert run_state({**elsewhere, "heartbeat_at": beat}) is RunState.IN_PROGRESS
    assert run_state({**elsewhere, "heartbeat_at": old}) is RunState.INTERRUPTED  # that machine died
    assert run_state({**elsewhere, "heartbeat_at": old}, heartbeat_timeout_s=3 * 3600) is RunState.IN_PROGRESS
    assert run_state({**elsewhere, "started_at": old}) is RunState.INTERRUPTED  # no heartbeat yet: since it started


def _one_run(tmp_path: Path, executor: str = "local") -> Path:
    return _write(tmp_path, f"""
        [experiment]
        preset = "smoke"
        [executor]
        kind = "{executor}"
        [[runs]]
        task = "digits"
        methods = ["linear-probe"]
        seeds = [0, 1]
        """, f"{executor}.toml")


@pytest.mark.ucdbench_e2e
def test_plan_then_run_then_resume_an_interrupted_run(tmp_path):
    path, results = _one_run(tmp_path), tmp_path / "results"
    plan = run_cli("plan", "-f", str(path), "--results", str(results), third_party=True)
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.count("runs (new)") == 2 and "unknown — the 2 runs to run were never recorded before" in plan.stdout

    done = run_cli("run", "-f", str(path), results=results, third_party=True)
    assert done.returncode == 0, done.stderr
    records = {json.loads(p.read_text())["seed"]: p for p in (results / "runs").glob("*.json")}
    plan = run_cli("plan", "-f", str(path), "--results", str(results), third_party=True)
    assert plan.stdout.count("skipped (done)") == 2 and "0 to run" in plan.stdout

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    interrupted = json.loads(records[1].read_text()) | {"status": "running", "pid": dead.pid}
    records[1].write_text(json.dumps(interrupted))
    left = run_cli("run", "-f", str(path), results=results, third_party=True)
    assert left.returncode == 1 and "interrupted" in left.stderr and "--resume" in left.stderr
    assert json.loads(records[1].read_text())["status"] == "running"  # left as it was
    resumed = run_cli("run", "-f", str(path), "--resume", results=results, third_party=True)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(records[1].read_text())["status"] == "ok"


def test_run_with_a_file_refuses_the_flags_the_file_replaces(tmp_path):
    result = run_cli("run", "-f", str(_one_run(tmp_path)), "--method", "lora", results=tmp_path)
    assert result.returncode == 2 and "--method with -f" in result.stderr
    bad = _write(tmp_path, SMOKE.replace("methods = [\"linear-probe\"]", "methods = [\"linear-prob\"]"), "typo.toml")
    result = run_cli("run", "-f", str(bad), results=tmp_path / "results", third_party=True)
    assert result.returncode == 2 and "linear-prob" in result.stderr
    assert not (tmp_path / "results" / "runs").exists()  # nothing started


@pytest.mark.ucdbench_e2e
@pytest.mark.parametrize("executor", ["ray", "slurm"])
def test_remote_executors_run_each_run_in_a_worker_and_record_it(tmp_path, executor):
    """Ray on a local ``ray.init`` cluster; submitit's local executor standing in for Slurm."""
    pytest.importorskip({"ray": "ray", "slurm": "submitit"}[executor])
    path, results = _one_run(tmp_path, executor), tmp_path / "results"
    if executor == "slurm":  # submitit's local executor: jobs are local processes
        path.write_text(path.read_text().replace('kind = "slurm"', 'kind = "slurm"\ncluster = "local"\ntime_min = 10'))
    result = run_cli("run", "-f", str(path), results=results, third_party=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    assert sorted(r["seed"] for r in records) == [0, 1] and {r["status"] for r in records} == {"ok"}
    assert os.getpid() not in {r["pid"] for r in records}  # executed by workers, not the driver


def test_a_missing_optional_executor_says_how_to_install_it(tmp_path, monkeypatch):
    from ucdbench.executors import RayExecutor

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(UcdbenchError, match=r"pip install 'ucdbench\[ray\]'"):
        list(RayExecutor().execute([object()], None, False))


def _record(method: str, seed: int, top1: float, overrides: dict | None = None) -> dict:
    config = {"activation": "sine", **(overrides or {})} if method == "mcnc" else {}
    return {"key": f"{method}{seed}{overrides}", "status": "ok", "seed": seed, "preset": "small",
            "overrides": overrides or {}, "method": {"name": method, "config": config},
            "hardware": {"kind": "cpu", "name": "Test CPU"}, "task": {"name": "mnist", "config": {"model": "mlp"}}, "evaluations": {"accuracy": {"top1": top1}},
            "figures": {"accuracy": [{"name": "top1", "higher_is_better": True, "unit": "%"}]}}


def test_claims_are_judged_seed_by_seed_on_the_rows_they_name():
    from ucdbench.experiments import Claim, RowSelector, claims_markdown, judge_claims

    records = [_record("mcnc", s, v) for s, v in enumerate([90.0, 91.0, 92.5])]  # activation: the default, sine
    records += [_record("pranc", s, v) for s, v in enumerate([88.0, 89.2, 90.3])]  # 2 below, seed by seed
    records += [_record("nola", s, v) for s, v in enumerate([95.0, 85.0, 93.0])]   # around mcnc, noisy
    records += [_record("mcnc", s, 50.0, {"activation": "none"}) for s in range(3)]  # another row of mcnc

    def claim(better: str, than: str, better_set: dict | None = None) -> Claim:
        return Claim(f"{better} beats {than}", "mnist", "accuracy/top1", RowSelector(better, better_set or {}),
                     RowSelector(than, {"activation": "sine"} if than == "mcnc" else {}), "small")

    claims = [claim("mcnc", "pranc", {"activation": "sine"}), claim("pranc", "mcnc"), claim("nola", "mcnc"),
              claim("mcnc", "vera", {"activation": "sine"}), claim("mcnc", "nola")]
    verdicts = {v.claim.name: v for v in judge_claims(claims, records)}
    assert verdicts["mcnc beats pranc"].verdict == "holds"
    assert verdicts["mcnc beats pranc"].comparison.mean_difference == pytest.approx(2.0, abs=1e-9)  # sine row only
    assert verdicts["pranc beats mcnc"].verdict == "does not hold"
    assert verdicts["nola beats mcnc"].verdict == "not significant"
    assert "mcnc beats vera" not in verdicts
    assert verdicts["mcnc beats nola"].verdict.startswith("ambiguous: mcnc matches 2 rows")  # never mixed
    by_task_setting = judge_claims([Claim("on the MLP", "mnist", "accuracy/top1",
                                          RowSelector("mcnc", {"task.model": "mlp", "activation": "sine"}),
                                          RowSelector("pranc", {"task.model": "mlp"}), "small")], records)
    assert by_task_setting[0].verdict == "holds"  # task settings and defaults match the resolved configuration
    table = claims_markdown(claims, list(verdicts.values()))
    assert "| mcnc beats vera |" in table and "no runs of both rows" in table and "**holds**" in table


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "experiments").glob("*.toml")), ids=lambda p: p.name)
def test_every_committed_experiment_file_reads_and_every_run_resolves(path):
    """The files behind the committed leaderboards and the nightly stay runnable as the code moves."""
    from ucdbench.plugins import load_registry
    from ucdbench.runner import resolve
    from ucdbench.store import RunStore

    experiment = load_experiment(path)
    registry, store = load_registry(), RunStore(path.parent / "no-results-here")
    keys = {resolve(registry, spec, store).key for spec in experiment.runs}
    assert len(keys) == len(experiment.runs)  # no run listed twice
    methods = {spec.method for spec in experiment.runs}
    for claim in experiment.claims:
        assert {claim.better.method, claim.than.method} <= methods, claim.name
