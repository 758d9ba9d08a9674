"""Registration fails loudly: misspelled or undecorated hooks, targets that do not fit, bad
names, collisions. Each problem is the broken plugin's alone (or, for a collision, one name)."""

from __future__ import annotations

import types

import pytest

from ucdbench import hookimpl
from ucdbench.contracts.interfaces import Evaluation, Method, Task, UcdbenchError
from ucdbench.discovery.registry import load_registry
from ucdbench.contracts.settings import Setting


def _plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def _methods(*registrations) -> types.SimpleNamespace:
    """A plugin whose method hook registers each ``(name, target)``."""

    def hook(register):
        for name, target in registrations:
            register(name, target)

    return _plugin(ucdbench_register_methods=hook)


GOOD = ("good", _methods(("good-method", "somewhere:Good")))


class Probe(Method):
    name = "probe"

    def fit(self, task, config, ctx):
        raise NotImplementedError


class Abstract(Method):  # no fit()
    name = "abstract"


class WrongSetting(Probe):
    name = "wrong-setting"
    settings = {"epochs": Setting("three", "passes over the data", minimum=1)}


class NotASetting(Probe):
    name = "not-a-setting"
    settings = {"epochs": 3}


class NeedsArguments(Probe):
    name = "needs-arguments"

    def __init__(self, width):
        self.width = width


class DataInInit(Task):
    name = "data-in-init"
    metrics = ()
    primary_metric = "top1"

    def __init__(self, preset, seed, config):
        raise FileNotFoundError("/data/train.csv")

    prepare = base_model = train_batches = loss = evaluate = sample_inputs = lambda self, *args: None


class HalfAnEvaluation(Evaluation):  # no measure()
    name = "half"


@pytest.fixture(autouse=True)
def _no_entry_points(monkeypatch):
    monkeypatch.setenv("UCDBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")


def test_a_misspelled_hook_breaks_that_plugin_with_the_right_name_and_keeps_none_of_it():
    misspelled = _plugin(ucdbench_register_method=lambda register: register("m", "x:M"),
                         ucdbench_register_tasks=lambda register: register("t", "x:T"))
    registry = load_registry(extra=[("typo", misspelled), GOOD])
    [broken] = registry.broken
    assert broken.name == "typo" and broken.hooks == ["ucdbench_register_method", "ucdbench_register_tasks"]
    assert "unknown hook 'ucdbench_register_method'. Did you mean 'ucdbench_register_methods'?" in broken.error
    assert registry.names("method") == ["good-method"] and registry.names("task") == []


def test_each_of_several_misspelled_plugins_is_broken_on_its_own():
    first = _plugin(ucdbench_register_task=lambda register: None)
    second = _plugin(ucdbench_registr_hardware=lambda register: None)
    registry = load_registry(extra=[("first", first), ("second", second), GOOD])
    errors = {b.name: b.error for b in registry.broken}
    assert set(errors) == {"first", "second"}
    assert "Did you mean 'ucdbench_register_tasks'" in errors["first"]
    assert "Did you mean 'ucdbench_register_hardware'" in errors["second"]
    assert registry.names("method") == ["good-method"]


def test_an_undecorated_hook_is_not_silently_ignored():
    def ucdbench_register_methods(register):
        register("never", "x:Never")

    undecorated = types.SimpleNamespace(ucdbench_register_methods=ucdbench_register_methods)
    registry = load_registry(extra=[("plain", undecorated)])
    [broken] = registry.broken
    assert "defines ucdbench_register_methods without @hookimpl" in broken.error
    assert "from ucdbench import hookimpl" in broken.error


@pytest.mark.parametrize(("kind_hook", "name", "target", "expected"), [
    ("ucdbench_register_methods", "probe", dict, "class builtins.dict is not a subclass of "
                                                 "ucdbench.api.Method"),
    ("ucdbench_register_tasks", "probe", Probe, "is not a subclass of ucdbench.api.Task"),
    ("ucdbench_register_methods", "other", Probe, "has name 'probe' but is registered as 'other'"),
    ("ucdbench_register_methods", "probe", Probe(), "Probe object"),
    ("ucdbench_register_methods", "probe", "test_registration.Probe", "is not 'module:attribute'"),
    ("ucdbench_register_methods", "my probe", "test_registration:Probe", "use letters, digits, '-' and '_'"),
])
def test_a_registration_that_cannot_work_breaks_the_plugin(kind_hook, name, target, expected):
    plugin = _plugin(**{kind_hook: lambda register: register(name, target)})
    registry = load_registry(extra=[("wrong", plugin), GOOD])
    [broken] = registry.broken
    assert broken.name == "wrong" and expected in broken.error
    assert registry.names("method") == ["good-method"]


def test_a_matching_class_registered_directly_is_kept_as_it_is():
    registry = load_registry(extra=[("direct", _methods(("probe", Probe)))])
    assert registry.broken == [] and registry.load("method", "probe") is Probe


def test_every_problem_of_a_plugin_is_reported_at_once():
    registry = load_registry(extra=[("wrong", _methods(("a b", "x:Y"), ("bad-target", "x"), ("twice", "x:Y"),
                                                        ("twice", "x:Z")))])
    error = registry.broken[0].error
    assert "'a b'" in error and "target 'x'" in error and "registers method 'twice' twice" in error


@pytest.mark.parametrize(("name", "target", "expected"), [
    ("probe", "test_registration:GOOD", "tuple object"),
    ("probe", "ucdbench_plugins.hardware.cpu:CPU", "is not a subclass of ucdbench.api.Method"),
    ("other", "test_registration:Probe", "has name 'probe' but is registered as 'other'"),
])
def test_a_lazy_target_is_checked_when_it_loads(name, target, expected):
    registry = load_registry(extra=[("lazy", _methods((name, target)))])
    assert registry.broken == []  # not imported at list time
    for _ in range(2):  # a bad target is never cached as if it were good
        with pytest.raises(UcdbenchError, match="of plugin 'lazy'") as error:
            registry.load("method", name)
        assert expected in str(error.value) and f"loaded from {target!r}" in str(error.value)


def test_a_builtin_keeps_its_name_and_the_plugin_keeps_its_others(monkeypatch):
    monkeypatch.delenv("UCDBENCH_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("UCDBENCH_PLUGINS", "lora")
    registry = load_registry(extra=[("rival", _methods(("lora", "x:Rival"), ("rival-method", "x:Own")))])
    assert registry.broken == []
    lora = registry.get("method", "lora")
    assert (lora.plugin, lora.distribution) == ("lora", "ucdbench") and lora.builtin
    assert registry.get("method", "rival-method").plugin == "rival"
    [collision] = registry.collisions
    assert collision.loser.plugin == "rival" and collision.winner is lora
    assert "built-in plugins win" in collision.message and "UCDBENCH_DISABLE_PLUGINS=lora" in collision.message
    assert registry.registered_by("rival") == {"method": ["rival-method"]}
    assert registry.lost_by("rival") == [collision] and registry.lost_by("lora") == []


def test_a_plugin_registering_nothing_is_listed_and_not_broken():
    registry = load_registry(extra=[("nothing", types.SimpleNamespace()), GOOD])
    info = next(p for p in registry.plugins if p.name == "nothing")
    assert info.error == "" and info.hooks == [] and registry.registered_by("nothing") == {}
    assert [p.name for p in registry.plugins] == ["nothing", "good"]  # load order


@pytest.mark.parametrize(("kind_hook", "name", "target", "expected"), [
    ("ucdbench_register_methods", "abstract", Abstract, "Abstract is abstract: it does not define fit(), which every "
                                                        "ucdbench.api.Method must; define it in the class"),
    ("ucdbench_register_evaluations", "half", HalfAnEvaluation, "it does not define measure()"),
    ("ucdbench_register_methods", "wrong-setting", WrongSetting, "its setting 'epochs' is declared wrongly: minimum=1 "
                                                                 "bounds numbers, but the setting takes a string"),
    ("ucdbench_register_methods", "not-a-setting", NotASetting, "its setting 'epochs' is 3, not a "
                                                                "ucdbench.api.Setting"),
    ("ucdbench_register_methods", "needs-arguments", NeedsArguments, "cannot be constructed as the harness constructs "
                                                                     "it (cls()): TypeError"),
    ("ucdbench_register_tasks", "data-in-init", DataInInit, 'cannot be constructed as the harness constructs it '
                                                            '(cls("smoke", 0, cls.defaults("smoke"))): '
                                                            'FileNotFoundError: /data/train.csv; make that call work'),
])
def test_a_class_the_harness_cannot_use_breaks_the_plugin_that_registers_it(kind_hook, name, target, expected):
    plugin = _plugin(**{kind_hook: lambda register: register(name, target),
                        "ucdbench_register_hardware": lambda register: register("kept-only-if-fine", "x:Y")})
    registry = load_registry(extra=[("unusable", plugin), GOOD])
    [broken] = registry.broken
    assert broken.name == "unusable" and expected in broken.error
    assert registry.names("method") == ["good-method"] and registry.names("hardware") == []  # nothing of it is kept
    assert "UCDBENCH_DISABLE_PLUGINS=unusable" in broken.broken_message


@pytest.mark.parametrize(("name", "target", "expected"), [
    ("abstract", "test_registration:Abstract", "is abstract: it does not define fit()"),
    ("wrong-setting", "test_registration:WrongSetting", "its setting 'epochs' is declared wrongly"),
    ("needs-arguments", "test_registration:NeedsArguments", "cannot be constructed as the harness constructs it"),
])
def test_a_lazy_target_the_harness_cannot_use_fails_to_load_naming_plugin_problem_and_fix(name, target, expected):
    registry = load_registry(extra=[("lazy", _methods((name, target)))])
    assert registry.broken == []  # list cannot know: it imports no target
    with pytest.raises(UcdbenchError) as error:
        registry.load("method", name)
    message = str(error.value)
    assert f"method {name!r} of plugin 'lazy'" in message and expected in message
    assert "disable the plugin: UCDBENCH_DISABLE_PLUGINS=lazy" in message
    assert "ucdbench.contracts.interfaces" not in message


def test_warnings_name_each_broken_plugin_and_each_lost_name_on_one_line_with_the_fix():
    broken = _plugin(ucdbench_register_methods=lambda register: register("abstract", Abstract))
    registry = load_registry(extra=[("first", _methods(("same", "a:A"))), ("second", _methods(("same", "b:B"))),
                                    ("broken", broken)])
    broken_line, lost_line = registry.warnings()
    assert broken_line.startswith("plugin 'broken' (no distribution) is broken") and "fit()" in broken_line
    assert "UCDBENCH_DISABLE_PLUGINS=broken" in broken_line
    assert lost_line.startswith("method 'same' of plugin 'second'") and "UCDBENCH_DISABLE_PLUGINS=first" in lost_line
    assert all("\n" not in line for line in registry.warnings())


def test_load_named_loads_every_kind_of_a_name_or_says_why_it_cannot():
    broken = _plugin(ucdbench_register_methods=lambda register: register("abstract", Abstract))
    registry = load_registry(extra=[("direct", _methods(("probe", Probe))), ("broken", broken)])
    assert registry.load_named("probe") == {"method": Probe}
    with pytest.raises(UcdbenchError, match="nothing is registered as 'prob'. Did you mean 'probe'") as error:
        registry.load_named("prob")
    assert "plugin 'broken' (no distribution) is broken" in str(error.value) and "fit()" in str(error.value)
