"""The conformance kit: every built-in plugin passes it, and each of its checks can fail."""

from __future__ import annotations

import types

import pytest

from conftest import THIRD_PARTY
from ucdbench.authoring.conformance import check_plugin
from ucdbench.api import Evaluation, Method, Outcome, Setting
from ucdbench.discovery.registry import load_registry

REGISTRY = load_registry()
BUILTIN = sorted({(kind, name) for kind, entries in REGISTRY.entries.items() for name, entry in entries.items()
                  if entry.builtin}, key=lambda kn: (kn[0] != "method", kn[1]))


SMOKE_METHODS = {"generation-cost": "genie", "sample-grid": "genie"}
"""Evaluations that apply only to a method no paper's figure ties them to (they measure what a
generative augmentation makes): the kit measures them on the method named here."""


def _failures(name: str, registry=None, task: str | None = None, method: str | None = None) -> list[str]:
    return [c.line() for c in check_plugin(name, task, registry, method) if not c.passed]


@pytest.mark.ucdbench_e2e
@pytest.mark.parametrize(("kind", "name"), BUILTIN, ids=[f"{k}:{n}" for k, n in BUILTIN])
def test_every_builtin_plugin_passes_the_kit(kind, name):
    failures = _failures(name, method=SMOKE_METHODS.get(name))
    assert not failures, "\n".join(failures)


class _BadDefault(Method):
    name = "bad-default"
    settings = {"rank": Setting(0, "the rank", minimum=1)}  # its own default is not allowed

    def fit(self, task, config, ctx):
        return Outcome(model=task.base_model(pretrained=False))


class _Refuses(Method):
    name = "refuses"

    def supports(self, task):
        return ""  # neither None nor a reason

    def fit(self, task, config, ctx):
        raise AssertionError("never fitted")


class _Undeterministic(Method):
    name = "undeterministic"

    def fit(self, task, config, ctx):
        import torch

        model = task.base_model(pretrained=False)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn(parameter.shape, generator=torch.Generator().manual_seed(id(self))))
        from ucdbench.api import dense_model_outcome

        return dense_model_outcome(model, {})


def _registry_with(*classes):
    def hook(register):
        for cls in classes:
            register(cls.name, cls)

    from ucdbench import hookimpl

    plugin = types.SimpleNamespace(ucdbench_register_methods=hookimpl(hook))
    return load_registry(extra=[("kit-test", plugin)])


def test_a_default_its_own_setting_refuses_fails_the_kit():
    failures = _failures("bad-default", _registry_with(_BadDefault))  # a broken plugin: caught at registration
    assert any("its setting 'rank' is declared wrongly: the default at preset 'smoke', 0," in line for line in failures)


def test_an_empty_reason_fails_the_supports_check():
    failures = _failures("refuses", _registry_with(_Refuses))
    assert any(line.startswith("FAIL  supports") and "return None or a reason" in line for line in failures)


@pytest.mark.ucdbench_e2e
def test_a_method_that_ignores_the_seed_fails_the_determinism_check():
    failures = _failures("undeterministic", _registry_with(_Undeterministic), task="digits")
    assert any(line.startswith("FAIL  deterministic") for line in failures), failures


@pytest.mark.ucdbench_e2e
def test_a_diverging_method_fails_the_smoke_fit(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(THIRD_PARTY))  # the kit's fresh processes see the example package too
    monkeypatch.syspath_prepend(str(THIRD_PARTY))
    failures = _failures("diverge", load_registry(), task="digits")
    assert any(line.startswith("FAIL  smoke fit") and "loss became nan" in line for line in failures), failures


def test_reconstruction_declares_the_bitwise_state_check_it_owns():
    from ucdbench_plugins.evaluations.reconstruction import Reconstruction

    run = {"artifact": "a.safetensors", "skipped": {"reconstruction": "no reconstruct"}}
    assert Reconstruction().conformance_problem({"weights_equal": True}, run) is None
    assert "bn.running_mean" in Reconstruction().conformance_problem(
        {"weights_equal": False, "mismatched_names": ["bn.running_mean"]}, run)
    assert "reconstruct" in Reconstruction().conformance_problem(None, run)  # stores an artifact, rebuilds nothing
    assert Reconstruction().conformance_problem(None, {"skipped": {}}) is None  # stores nothing: nothing to rebuild


def test_accuracy_declares_that_the_task_reports_every_metric_it_declares():
    from ucdbench_plugins.evaluations.accuracy import Accuracy

    run = {"task": {"name": "t", "metrics": [{"name": "top1"}, {"name": "loss"}]}}
    assert Accuracy().conformance_problem({"top1": 50.0, "loss": 1.2}, run) is None
    assert "no number for loss" in Accuracy().conformance_problem({"top1": 50.0}, run)


class _Picky(Evaluation):
    """Measures a constant and finds fault with every run it measured."""

    name = "picky"

    def measure(self, ctx):
        return {"constant": 1.0}

    def conformance_problem(self, results, run):
        return "always unhappy" if results is not None else None


class _Unplain(_Picky):
    name = "unplain"

    def measure(self, ctx):
        return {"tensor": object()}


class _Shy(_Picky):
    name = "shy"

    def skip_reason(self, ctx):
        return "applies to nothing"


def _with_evaluations(*classes):
    def hook(register):
        for cls in classes:
            register(cls.name, cls)

    from ucdbench import hookimpl

    return load_registry(extra=[("kit-evaluations", types.SimpleNamespace(ucdbench_register_evaluations=hookimpl(hook)))])


@pytest.mark.ucdbench_e2e
def test_an_evaluation_is_measured_on_a_smoke_run_and_its_own_check_can_fail_it():
    registry = _with_evaluations(_Picky, _Unplain, _Shy)
    picky = {c.name: c for c in check_plugin("picky", "digits", registry, "base")}
    assert picky["smoke measure"].passed and "base's smoke run on digits" in picky["smoke measure"].detail
    assert not picky["conformance"].passed and picky["conformance"].detail == "always unhappy"
    unplain = [c.line() for c in check_plugin("unplain", "digits", registry, "base") if not c.passed]
    assert unplain == ["FAIL  smoke measure: measure() returned values that are not plain JSON (numbers, flags, "
                       "strings, None, lists and mappings of them): tensor"]
    shy = [c for c in check_plugin("shy", "digits", registry, "base") if not c.passed]
    assert len(shy) == 1 and "applies to nothing" in shy[0].detail and "--method METHOD" in shy[0].detail


@pytest.mark.ucdbench_e2e
def test_every_evaluation_s_own_check_judges_a_method_s_smoke_run():
    failures = _failures("base", _with_evaluations(_Picky), task="digits")
    assert any(line.startswith("FAIL  evaluations") and "picky: always unhappy" in line for line in failures), failures
