"""The conformance kit: every built-in plugin passes it, and each of its checks can fail."""

from __future__ import annotations

import types

import pytest

from conftest import THIRD_PARTY
from ucdbench.conformance import check_plugin
from ucdbench.interfaces import Method, Outcome, Setting
from ucdbench.plugins import load_registry

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


def test_a_default_its_own_setting_refuses_fails_the_settings_check():
    failures = _failures("bad-default", _registry_with(_BadDefault))
    assert any(line.startswith("FAIL  settings") and "rank=0" in line for line in failures)


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
