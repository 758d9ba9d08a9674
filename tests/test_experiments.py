"""Experiment files, run states (cached, in progress, interrupted) and the executors that spread runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from ucdbench.running.executors import RunState, run_state
from ucdbench.cli.experiments import load_experiment
from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.running.runner import RunSpec

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
    assert claim.better.settings == {"lr": 0.1} and claim.figures == ("accuracy/top1",)
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
    from ucdbench.running.executors import RayExecutor

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
    from ucdbench.reporting.claims import Claim, RowSelector, claims_markdown, judge_claims

    records = [_record("mcnc", s, v) for s, v in enumerate([90.0, 91.0, 92.5])]  # activation: the default, sine
    records += [_record("pranc", s, v) for s, v in enumerate([88.0, 89.2, 90.3])]  # 2 below, seed by seed
    records += [_record("nola", s, v) for s, v in enumerate([95.0, 85.0, 93.0])]   # around mcnc, noisy
    records += [_record("mcnc", s, 50.0, {"activation": "none"}) for s in range(3)]  # another row of mcnc

    def claim(better: str, than: str, better_set: dict | None = None) -> Claim:
        return Claim(f"{better} beats {than}", "mnist", ("accuracy/top1",), RowSelector(better, better_set or {}),
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
    by_task_setting = judge_claims([Claim("on the MLP", "mnist", ("accuracy/top1",),
                                          RowSelector("mcnc", {"task.model": "mlp", "activation": "sine"}),
                                          RowSelector("pranc", {"task.model": "mlp"}), "small")], records)
    assert by_task_setting[0].verdict == "holds"  # task settings and defaults match the resolved configuration
    table = claims_markdown(claims, list(verdicts.values()))
    assert "| mcnc beats vera |" in table and "no runs of both rows" in table and "**holds**" in table


DEFENCE_CLAIMS = """
[[claims]]
name = "blocking lowers attack success"
task = "mnist"
figure = "targeted-attack/blocked_asr"
preset = "small"
higher_is_better = false
better = { method = "backdoor" }
than = { method = "backdoor", figure = "targeted-attack/asr" }

[[claims]]
name = "undirected"
task = "mnist"
figure = "targeted-attack/blocked_asr"
preset = "small"
better = { method = "backdoor" }
than = { method = "backdoor", figure = "targeted-attack/asr" }
"""


def test_a_claim_may_compare_a_rows_own_figures_in_the_direction_it_states(tmp_path):
    """Attack success declares no direction: a claim says which way is better, and may set a
    row's figure after a defence against the same row's figure without it."""
    from ucdbench.reporting.claims import judge_claims

    def attack(seed: int, asr: float, blocked: float) -> dict:
        record = _record("backdoor", seed, 90.0)
        record["evaluations"]["targeted-attack"] = {"asr": asr, "blocked_asr": blocked}
        record["figures"]["targeted-attack"] = [{"name": "asr", "higher_is_better": None},
                                                {"name": "blocked_asr", "higher_is_better": None}]
        return record

    records = [attack(s, asr, asr - 30 - s) for s, asr in enumerate([80.0, 85.0, 90.0])]
    path = _write(tmp_path, SMOKE + DEFENCE_CLAIMS, "defence.toml")
    directed, undirected = load_experiment(path).claims[-2:]
    assert directed.than.figure == "targeted-attack/asr" and directed.higher_is_better is False
    [verdict] = judge_claims([directed], records)
    assert verdict.verdict == "holds" and verdict.comparison.mean_difference == pytest.approx(-31.0)
    assert judge_claims([undirected], records)[0].verdict == "untestable"
    with pytest.raises(UcdbenchError, match="key 'higher_is_better': expected true or false"):
        load_experiment(_write(tmp_path, path.read_text().replace("higher_is_better = false",
                                                                  'higher_is_better = "lower"'), "bad.toml"))


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "experiments").glob("*.toml")), ids=lambda p: p.name)
def test_every_committed_experiment_file_reads_and_every_run_resolves(path):
    """The files behind the committed leaderboards and the nightly stay runnable as the code moves."""
    from ucdbench.discovery.registry import load_registry
    from ucdbench.running.runner import resolve
    from ucdbench.running.store import RunStore

    experiment = load_experiment(path)
    registry, store = load_registry(), RunStore(path.parent / "no-results-here")
    keys = {resolve(registry, spec, store).key for spec in experiment.runs}
    assert len(keys) == len(experiment.runs)  # no run listed twice
    methods = {spec.method for spec in experiment.runs}
    for claim in experiment.claims:
        assert {claim.better.method, claim.than.method} <= methods, claim.name
    tasks = {spec.task for spec in experiment.runs}
    for view in experiment.views:  # a view shows rows of this file's runs: no typo leaves it empty
        assert view.task in tasks and {selector.method for selector in view.rows} <= methods, view.question


# -- executors that fail loudly ------------------------------------------------------------------

def _spec(method: str, seed: int, **overrides) -> RunSpec:
    return RunSpec(method, "digits", "smoke", seed, "cpu", overrides)


def test_runs_are_dispatched_seed_by_seed_across_settings():
    from ucdbench.running.executors import interleaved

    given = [_spec("lora", s) for s in (0, 1, 2)] + [_spec("lora", s, rank=4) for s in (0, 1, 2)]
    given += [_spec("full-ft", s) for s in (5, 7)]  # other seeds: their first comes with every first
    runs = [types.SimpleNamespace(spec=spec) for spec in given]
    order = [(r.spec.method, r.spec.overrides.get("rank"), r.spec.seed) for r in interleaved(runs)]
    assert order == [("lora", None, 0), ("lora", 4, 0), ("full-ft", None, 5),
                     ("lora", None, 1), ("lora", 4, 1), ("full-ft", None, 7),
                     ("lora", None, 2), ("lora", 4, 2)]
    assert interleaved(list(reversed(runs)))[0].spec.seed == 7  # otherwise the order given is kept


def test_select_runs_hands_the_executor_an_interleaved_order():
    from ucdbench.running.executors import select_runs

    runs = [types.SimpleNamespace(spec=_spec(m, s), key=f"{m}{s}", measurements=[]) for m in ("a", "b") for s in (0, 1)]
    store = types.SimpleNamespace(get=lambda key: None)
    assert [r.key for r in select_runs(runs, store).to_run] == ["a0", "b0", "a1", "b1"]


def _no_slurm_env() -> dict[str, str]:
    """A PATH on which neither ``sbatch`` nor ``srun`` can be found, whatever this machine has."""
    return {"PATH": str(Path(sys.executable).parent)}


@pytest.mark.parametrize("how", ["file", "flag"])
def test_slurm_without_slurm_is_a_usage_error_before_anything_runs(tmp_path, how):
    results = tmp_path / "results"
    if how == "file":  # asked for by name in the file: still Slurm, not a local fallback
        path = _one_run(tmp_path, "slurm")
        path.write_text(path.read_text().replace('kind = "slurm"', 'kind = "slurm"\ncluster = "slurm"'))
        flags = []
    else:
        path, flags = _one_run(tmp_path), ["--executor", "slurm", "--partition", "gpu"]
    result = run_cli("run", "-f", str(path), *flags, results=results, third_party=True, env=_no_slurm_env())
    assert result.returncode == 2, result.stderr[-2000:]
    assert "no Slurm on this machine" in result.stderr and "`sbatch`" in result.stderr
    assert "--executor local" in result.stderr and "--slurm-cluster local" in result.stderr  # the fixes
    assert "Traceback" not in result.stderr and not (results / "runs").exists()  # nothing ran, nothing recorded


def test_slurm_is_found_by_its_commands_and_the_local_dry_run_only_by_name(tmp_path, monkeypatch):
    from ucdbench.running.executors import SlurmExecutor

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UcdbenchError, match="`sbatch` and `srun` not found"):
        SlurmExecutor()
    assert SlurmExecutor(cluster="local").cluster == "local"  # the dry run, by name: no Slurm needed
    with pytest.raises(UcdbenchError, match="choose 'slurm'"):
        SlurmExecutor(cluster="debug")
    for command in ("sbatch", "srun"):
        (tmp_path / command).write_text("#!/bin/sh\n")
        (tmp_path / command).chmod(0o755)
    assert SlurmExecutor(partition="gpu").cluster == "slurm"


def test_executor_flags_reach_the_executor_and_are_checked(tmp_path):
    from ucdbench.cli import build_parser
    from ucdbench.cli.run_options import executor_for

    def executor(*flags: str):
        return executor_for(build_parser().parse_args(["run", *flags]), None)

    ray = executor("--executor", "ray", "--cpus-per-run", "2", "--gpus-per-run", "1", "--ray-address", "auto")
    assert (ray.cpus_per_run, ray.gpus_per_run, ray.address) == (2, 1, "auto")
    assert executor("--executor", "ray").gpus_per_run is None  # default: the hardware's declaration
    assert executor("--executor", "slurm", "--slurm-cluster", "local").cluster == "local"
    with pytest.raises(UcdbenchError, match="cpus_per_run 0.0: give the CPUs each run takes"):
        executor("--executor", "ray", "--cpus-per-run", "0")
    with pytest.raises(UcdbenchError, match="gpus_per_run -1"):
        executor("--executor", "ray", "--gpus-per-run", "-1")
    with pytest.raises(UcdbenchError, match="--cpus-per-run, --slurm-cluster are options of another executor"):
        executor("--cpus-per-run", "2", "--slurm-cluster", "local")
    path = _one_run(tmp_path, "ray")
    path.write_text(path.read_text().replace('kind = "ray"', 'kind = "ray"\ncpus_per_run = 3\ngpus_per_run = 0'))
    from_file = executor_for(build_parser().parse_args(["run", "-f", str(path)]), load_experiment(path))
    assert (from_file.cpus_per_run, from_file.gpus_per_run) == (3, 0)
    overridden = executor_for(build_parser().parse_args(["run", "-f", str(path), "--gpus-per-run", "2"]), load_experiment(path))
    assert (overridden.cpus_per_run, overridden.gpus_per_run) == (3, 2)  # flags override the file


def test_ray_records_a_refusal_as_such_and_a_lost_task_as_infrastructure():
    from ucdbench.running.executors import RayExecutor, WorkerRefused

    class RayError(Exception):
        pass

    class RayTaskError(RayError):
        def __init__(self, cause):
            super().__init__(str(cause))
            self.cause = cause

    outcomes = {"refused": RayTaskError(WorkerRefused("the worker resolves lora on digits to run 1234")),
                "lost": RayError("the worker died"), "ok": None}

    def get(key):
        if outcomes[key] is not None:
            raise outcomes[key]
        return {"key": key, "status": "ok"}

    class Remote:
        def options(self, **options):
            return types.SimpleNamespace(remote=lambda spec, root, force, key: key)

    fake_ray = types.SimpleNamespace(
        is_initialized=lambda: True, remote=lambda fn: Remote(), wait=lambda refs, num_returns: ((refs[0],), refs[1:]),
        get=get, exceptions=types.SimpleNamespace(RayError=RayError, RayTaskError=RayTaskError))
    written = []
    store = types.SimpleNamespace(root=".", get=lambda key: None, write=written.append)
    runs = [types.SimpleNamespace(key=key, spec=_spec("lora", 0)) for key in outcomes]
    import unittest.mock

    with unittest.mock.patch.dict(sys.modules, {"ray": fake_ray}):
        records = {r["key"]: r for r in RayExecutor(gpus_per_run=0).execute(runs, store, False)}
    assert records["refused"]["error"] == "refused by the worker: the worker resolves lora on digits to run 1234"
    assert records["lost"]["error"].startswith("infrastructure: RayError: the worker died")
    assert records["ok"]["status"] == "ok" and {r["key"] for r in written} == set(outcomes)


@pytest.mark.ucdbench_e2e
def test_a_slurm_job_the_worker_refuses_fails_at_once_and_is_not_resubmitted(tmp_path):
    """submitit's local dry run; the driver's key is not the one the worker resolves."""
    pytest.importorskip("submitit")
    import dataclasses

    from ucdbench.running.executors import SlurmExecutor
    from ucdbench.discovery.registry import load_registry
    from ucdbench.running.runner import resolve
    from ucdbench.running.store import RunStore

    store = RunStore(tmp_path / "results")
    run = resolve(load_registry(), _spec("lora", 0), store)
    other = dataclasses.replace(run, key="0" * len(run.key))
    started = []
    (record,) = SlurmExecutor(cluster="local", time_min=10, retries=2).execute(
        [other], store, False, on_start=lambda spec, where: started.append(where))
    assert len(started) == 1 and started[0].startswith("local dry-run job")  # submitted once, never again
    assert record["status"] == "failed" and record["error"].startswith("refused by the worker: the worker resolves lora")
    assert "install the same ucdbench code" in record["error"] and store.get(other.key)["status"] == "failed"


@pytest.mark.ucdbench_e2e
def test_a_ray_cluster_that_does_not_answer_is_a_usage_error_soon(tmp_path):
    """Loopback port 1: nothing listens. Ray's own defaults would retry for minutes: the timeout
    of run_cli is what bounds the wait here, not a timed assert."""
    pytest.importorskip("ray")
    results = tmp_path / "results"
    result = run_cli("run", "-f", str(_one_run(tmp_path, "ray")), "--ray-address", "127.0.0.1:1", results=results,
                     third_party=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "no Ray cluster answered at 127.0.0.1:1" in result.stderr and "--executor local" in result.stderr
    assert "Traceback" not in result.stderr and not (results / "runs").exists()


def _session_processes(marker: str) -> list:
    """The live processes whose environment holds ``marker``: a Ray session started with its
    own RAY_TMPDIR passes it to every process it starts (GCS, raylet, agents, workers)."""
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if marker in {f"{k}={v}" for k, v in process.environ().items()} and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


@pytest.mark.ucdbench_e2e
def test_a_local_ray_ends_with_a_driver_terminated_by_sigterm(tmp_path):
    pytest.importorskip("ray")
    import shutil
    import signal
    import tempfile
    import time

    import psutil

    ray_tmp = tempfile.mkdtemp(prefix="ucd", dir="/tmp")  # short: Ray's socket paths live under it
    marker = f"RAY_TMPDIR={ray_tmp}"
    stderr = tmp_path / "stderr.txt"
    command = [str(Path(sys.executable).parent / "ucdbench"), "run", "-f", str(_one_run(tmp_path, "ray")),
               "--results", str(tmp_path / "results")]
    env = {**os.environ, "RAY_TMPDIR": ray_tmp,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent / "third_party"),
                                                       os.environ.get("PYTHONPATH")]))}
    with stderr.open("w") as err:
        driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env)
    session = []
    try:
        for _ in range(240):  # until the runs are dispatched (a local Ray takes seconds to start)
            if "→" in stderr.read_text() or driver.poll() is not None:
                break
            time.sleep(0.5)
        # Its descendants (agents rename themselves and may hide their environment), and the rest by environment.
        session = psutil.Process(driver.pid).children(recursive=True)
        session += [p for p in _session_processes(marker) if p.pid not in {q.pid for q in session}]
        names = " ".join(" ".join(p.cmdline()) for p in session)
        assert driver.poll() is None and "raylet" in names and "gcs_server" in names, stderr.read_text()[-2000:]
        driver.send_signal(signal.SIGTERM)
        assert driver.wait(timeout=120) == 128 + signal.SIGTERM
        gone, alive = psutil.wait_procs([p for p in session if p.pid != driver.pid], timeout=30)  # bounded wait
        assert not alive, [" ".join(p.cmdline())[:100] for p in alive]
        assert not _session_processes(marker)  # nor any started since the first look (workers)
    finally:
        if driver.poll() is None:
            driver.kill()
        for process in session + _session_processes(marker):  # the test's own leftovers, by pid
            try:
                process.kill()  # psutil checks the pid is still that process
            except psutil.NoSuchProcess:
                pass
        shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.mark.ucdbench_e2e
def test_process_per_run_runs_each_run_in_a_fresh_process(tmp_path):
    from conftest import run_cli

    result = run_cli("run", "--method", "base", "--preset", "smoke", "--seed", "0", "1", "--threads", "1",
                     "--process-per-run", results=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert len(records) == 2 and all(r["status"] == "ok" for r in records)
    assert len({r["pid"] for r in records}) == 2  # one process each
    assert "--process-per-run are options of another executor" in run_cli(
        "run", "--method", "base", "--preset", "smoke", "--executor", "ray", "--process-per-run", results=tmp_path).stderr
