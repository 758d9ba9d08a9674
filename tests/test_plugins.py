"""Plugin discovery and the registry: entry points, broken plugins, names, allow/deny lists."""

from __future__ import annotations

import types

import pytest

from ucdbench import hookimpl
from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.discovery.registry import load_registry


def _plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def test_builtins_come_through_entry_points():
    registry = load_registry()
    assert {"full-ft", "lora"} <= set(registry.names("method"))
    entry = registry.get("method", "lora")
    assert entry.plugin == "lora" and entry.distribution == "ucdbench" and entry.version
    assert isinstance(entry.target, str), "registration must stay lazy (a 'module:attr' string)"


def test_every_builtin_loads_under_its_name_with_defaults_for_every_preset():
    """Each built-in entry point registers without error, and each lazy target imports to the
    right interface under the name it was registered as: a broken built-in fails here, not in
    the first run that needs it."""
    from ucdbench.contracts import interfaces
    from ucdbench.contracts.sinks import Sink
    from ucdbench.discovery.registry import KINDS

    registry = load_registry()
    assert registry.broken == []
    bases = {"method": interfaces.Method, "task": interfaces.Task, "hardware": interfaces.Hardware,
             "evaluation": interfaces.Evaluation, "sink": Sink}
    for kind in KINDS:
        for name, entry in registry.entries[kind].items():
            if entry.distribution != "ucdbench":
                continue
            target = entry.load()
            assert issubclass(target, bases[kind]) and target.name == name, (kind, name)
            if issubclass(target, interfaces.Configurable):
                for preset in interfaces.PRESETS:
                    assert isinstance(target.defaults(preset), dict), (kind, name, preset)


def test_lazy_target_loads_on_use():
    registry = load_registry()
    from ucdbench.contracts.interfaces import Method

    assert issubclass(registry.load("method", "full-ft"), Method)


def test_a_raising_hook_marks_only_that_plugin_broken(monkeypatch):
    monkeypatch.setenv("UCDBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")

    def good(register):
        register("good-method", "somewhere:Good", summary="fine")

    def bad(register):
        register("half-registered", "somewhere:Half")
        raise RuntimeError("boom")

    registry = load_registry(extra=[("good", _plugin(ucdbench_register_methods=good)),
                                    ("bad", _plugin(ucdbench_register_methods=bad))])
    assert registry.names("method") == ["good-method"]  # nothing of the broken plugin survives
    assert [(b.name, b.error) for b in registry.broken] == [("bad", "ucdbench_register_methods raised RuntimeError: boom")]


def test_a_name_two_plugins_register_is_kept_by_the_first_and_only_that_name_is_lost(monkeypatch):
    monkeypatch.setenv("UCDBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")

    def second_tasks(register):
        register("same", "b:B")
        register("own", "b:Own")

    first = _plugin(ucdbench_register_tasks=lambda register: register("same", "a:A"))
    registry = load_registry(extra=[("first", first), ("second", _plugin(ucdbench_register_tasks=second_tasks))])
    assert registry.broken == []
    assert registry.get("task", "same").target == "a:A" and registry.get("task", "own").plugin == "second"
    [collision] = registry.collisions
    assert (collision.winner.plugin, collision.loser.plugin, collision.loser.name) == ("first", "second", "same")
    assert "the plugin loaded first wins" in collision.message and "UCDBENCH_DISABLE_PLUGINS=first" in collision.message


def test_unknown_name_suggests_close_matches():
    registry = load_registry()
    with pytest.raises(UcdbenchError, match=r"Did you mean 'full-ft'"):
        registry.get("method", "full_ft")


def test_unloadable_target_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("UCDBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    ghosts = _plugin(ucdbench_register_methods=lambda register: register("ghost", "no_such_module:X"))
    registry = load_registry(extra=[("ghosts", ghosts)])
    with pytest.raises(UcdbenchError, match="could not be loaded from 'no_such_module:X'"):
        registry.load("method", "ghost")


def test_allow_and_deny_lists(monkeypatch):
    monkeypatch.setenv("UCDBENCH_PLUGINS", "lora,digits")
    assert load_registry().names("method") == ["lora"]
    monkeypatch.delenv("UCDBENCH_PLUGINS")
    monkeypatch.setenv("UCDBENCH_DISABLE_PLUGINS", "lora")
    assert "lora" not in load_registry().names("method")
    monkeypatch.setenv("UCDBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert load_registry().names("method") == []


def test_hook_with_wrong_signature_is_broken(monkeypatch):
    monkeypatch.setenv("UCDBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    wrong = _plugin(ucdbench_register_methods=lambda register, extra: None)
    registry = load_registry(extra=[("wrong", wrong)])
    assert registry.broken and registry.broken[0].name == "wrong"
