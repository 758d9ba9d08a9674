"""What plugins declare decides what the harness asks for: the default task and hardware of a
run, and the GPUs the Ray and Slurm executors request for it (never a guess from a name)."""

from __future__ import annotations

import sys
import types

import pytest

from ucdbench import hookimpl
from ucdbench.api import Hardware, UcdbenchError
from ucdbench.discovery.defaults import declared_default
from ucdbench.running.executors import RayExecutor, SlurmExecutor, gpus_per_run
from ucdbench.discovery.registry import load_registry


class _Host(Hardware):
    name = "host"

    def devices(self):
        return ["cpu"]

    def describe(self, device):
        return {"kind": self.name}

    def synchronize(self, device):
        pass

    def time_call(self, fn, device):
        return 0.0


class _PairOfNPUs(_Host):
    """A third-party accelerator whose name says nothing: two devices a run."""

    name = "pair-of-npus"
    accelerator = True
    devices_per_run = 2


class _OneNPU(_Host):
    name = "one-npu"
    accelerator = True


class _Defaulting(_Host):
    name = "defaulting"
    is_default = True


class _AlsoDefaulting(_Host):
    name = "also-defaulting"
    is_default = True


def _run(key: str, hardware: type[Hardware]) -> types.SimpleNamespace:
    """What the executors read of a resolved run."""
    return types.SimpleNamespace(key=key, spec=f"spec-{key}", hardware=types.SimpleNamespace(load=lambda: hardware))


def test_gpus_per_run_come_from_the_hardware_declaration():
    assert gpus_per_run(_run("a", _PairOfNPUs)) == 2
    assert gpus_per_run(_run("b", _OneNPU)) == 1
    assert gpus_per_run(_run("c", _Host)) == 0  # not an accelerator: CPUs only, whatever devices_per_run says


def test_the_builtin_gpu_back_end_declares_itself_an_accelerator_and_the_cpu_does_not():
    registry = load_registry()
    accelerators = {name for name in registry.names("hardware") if registry.load("hardware", name).accelerator}
    assert accelerators and accelerators != set(registry.names("hardware"))
    assert registry.load("hardware", declared_default(registry, "hardware")).accelerator is False


def test_ray_asks_each_run_for_the_gpus_its_hardware_declares(monkeypatch):
    asked: dict[str, dict] = {}

    class Remote:
        def options(self, **options):
            def remote(spec, root, force, key):
                asked[key] = options
                return key  # the object reference ray.get reads the record by

            return types.SimpleNamespace(remote=remote)

    fake_ray = types.SimpleNamespace(
        is_initialized=lambda: True, remote=lambda fn: Remote(), wait=lambda refs, num_returns: ((refs[0],), refs[1:]),
        get=lambda key: {"key": key}, exceptions=types.SimpleNamespace(RayError=RuntimeError, RayTaskError=RuntimeError))
    monkeypatch.setitem(sys.modules, "ray", fake_ray)
    store = types.SimpleNamespace(root=".", get=lambda key: {"key": key}, write=lambda record: None)
    runs = [_run("npus", _PairOfNPUs), _run("host", _Host)]
    records = list(RayExecutor(cpus_per_run=3).execute(runs, store, False))
    assert sorted(r["key"] for r in records) == ["host", "npus"]
    assert asked["npus"]["num_gpus"] == 2 and asked["host"]["num_gpus"] == 0
    assert asked["npus"]["num_cpus"] == asked["host"]["num_cpus"] == 3
    list(RayExecutor(gpus_per_run=1).execute(runs, store, False))  # --gpus-per-run overrides every declaration
    assert asked["npus"]["num_gpus"] == asked["host"]["num_gpus"] == 1


def test_slurm_jobs_ask_for_the_declared_gpus_unless_told(monkeypatch):
    runs = [_run("a", _OneNPU), _run("b", _Host), _run("c", _PairOfNPUs), _run("d", _OneNPU)]
    groups = SlurmExecutor(cluster="local")._by_gpus(runs)
    assert {gpus: [r.key for r in group] for gpus, group in groups.items()} == {1: ["a", "d"], 0: ["b"], 2: ["c"]}
    told = SlurmExecutor(gpus_per_job=4, cluster="local")._by_gpus(runs)  # --gpus-per-job overrides every declaration
    assert {gpus: [r.key for r in group] for gpus, group in told.items()} == {4: ["a", "b", "c", "d"]}


def _registry_of(*hardware: type[Hardware], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UCDBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")

    def hook(register):
        for cls in hardware:
            register(cls.name, cls)

    return load_registry(extra=[("resources-test", types.SimpleNamespace(ucdbench_register_hardware=hookimpl(hook)))])


def test_the_default_is_the_first_registered_that_declares_it(monkeypatch):
    registry = _registry_of(_Host, _AlsoDefaulting, _Defaulting, monkeypatch=monkeypatch)
    assert declared_default(registry, "hardware") == "also-defaulting"


def test_no_declared_default_is_a_usage_error_naming_the_flag(monkeypatch):
    registry = _registry_of(_Host, monkeypatch=monkeypatch)
    with pytest.raises(UcdbenchError, match=r"no registered hardware declares itself the default.*--hardware NAME"):
        declared_default(registry, "hardware")


def test_a_run_without_task_or_hardware_gets_the_declared_defaults():
    from ucdbench.cli import build_parser
    from ucdbench.cli.run_options import requested_runs

    registry = load_registry()
    specs, _ = requested_runs(build_parser().parse_args(["run", "--method", "base"]))
    assert {(s.task, s.hardware) for s in specs} == {(declared_default(registry, "task"),
                                                      declared_default(registry, "hardware"))}
    assert registry.load("task", specs[0].task).is_default and registry.load("hardware", specs[0].hardware).is_default
