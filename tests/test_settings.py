"""Typed settings: every kind of rule accepts what it should and refuses the rest, with a
message that names the valid values."""

from __future__ import annotations

import pytest

from ucdbench.contracts.settings import PerPreset, PerTask, Setting, task_defaults


def test_types_are_inferred_from_the_defaults():
    assert Setting(4, "").problem(8) is None
    assert "expected an integer" in Setting(4, "").problem(2.5)
    assert "expected an integer" in Setting(4, "").problem(True)  # JSON true is no rank
    assert Setting(1e-3, "").problem(1) is None  # a float setting takes an int
    assert "expected true or false" in Setting(False, "").problem(1)
    assert "expected a string" in Setting("vit", "").problem(3)
    assert "expected a number" in Setting(0.5, "").problem(float("nan"))


def test_ranges_are_inclusive_unless_said_otherwise():
    rank = Setting(4, "", minimum=1, maximum=64)
    assert rank.problem(1) is None and rank.problem(64) is None
    assert rank.problem(0) == "0 is not allowed: expected an integer ≥ 1 and ≤ 64"
    assert rank.problem(65) is not None
    lr = Setting(1e-3, "", minimum=0, exclusive_minimum=True)
    assert lr.problem(0) == "0 is not allowed: expected a number > 0"


def test_choices_alone_and_choices_or_a_typed_value():
    mode = Setting("adapter", "", choices=("adapter", "scratch"))
    assert mode.problem("scratch") is None
    assert mode.problem("scrach") == "'scrach' is not allowed: expected one of 'adapter', 'scratch'"
    depth = Setting("auto", "", choices=("auto",), type=(int, float), minimum=1)
    assert depth.problem("auto") is None and depth.problem(3) is None and depth.problem(2.5) is None
    assert depth.problem("mid") == "'mid' is not allowed: expected one of 'auto' or a number ≥ 1"
    assert depth.problem(0) is not None


def test_a_custom_check_runs_after_the_type_check():
    even = Setting(2, "", check=lambda v: None if v % 2 == 0 else f"{v} is odd: give an even number")
    assert even.problem(4) is None
    assert even.problem(3) == "3 is odd: give an even number"
    assert "expected an integer" in even.problem("x")  # the type check comes first


def test_per_preset_defaults():
    epochs = Setting(PerPreset(smoke=1, small=10, paper=100), "")
    assert [epochs.default_at(p) for p in ("smoke", "small", "paper")] == [1, 10, 100]
    with pytest.raises(ValueError, match="unknown preset"):
        epochs.default_at("large")


def test_per_task_defaults_follow_the_tasks_setting_and_fall_back_without_one():
    gate = Setting(PerPreset(10.0, 10.0, PerTask("model", {"deit_small_patch16_224": 75.0}, otherwise=30.0)), "")
    assert gate.default_at("paper", {"model": "deit_small_patch16_224"}) == 75.0
    assert gate.default_at("paper", {"model": "deit_tiny_patch16_224"}) == 30.0
    assert gate.default_at("paper", {"width": 64}) == 30.0  # a task without the setting
    assert gate.default_at("paper") == 30.0  # no task: show-settings, defaults(preset)
    assert gate.default_at("small", {"model": "deit_small_patch16_224"}) == 10.0
    assert gate.per_task("paper") is not None and gate.per_task("small") is None
    settings = {"gate": gate, "eps": Setting(0.01, "")}
    assert task_defaults(settings, "paper", {"model": "deit_small_patch16_224"}) == {"gate": 75.0}
    assert task_defaults(settings, "small", {"model": "deit_small_patch16_224"}) == {}


def test_every_value_a_per_task_default_can_take_keeps_the_settings_rules():
    """A per-model value its own setting refuses is a broken declaration, like any default."""
    broken = Setting(PerTask("model", {"deit_small_patch16_224": -1}, otherwise=4), "", minimum=1)
    assert "-1" in broken.declaration_problem()
    assert Setting(PerTask("model", {"a": 2.5}, otherwise=1), "").types == (int, float)


@pytest.mark.parametrize(("setting", "expected"), [
    (Setting("three", "", minimum=1), "minimum=1 bounds numbers, but the setting takes a string (its default is "
                                      "'three'): give a number default, or declare type=int or type=float"),
    (Setting("auto", "", choices=("auto",), maximum=8), "maximum=8 bounds numbers, but the setting takes only its "
                                                        "choices"),
    (Setting(4, "", minimum="1"), "minimum='1' is not a finite number"),
    (Setting(4, "", minimum=8, maximum=2), "minimum=8 is above maximum=2: no value is allowed"),
    (Setting(0.1, "", exclusive_minimum=True), "exclusive_minimum=True without a minimum"),
    (Setting("cnn", "", choices=()), "choices=() is not a non-empty tuple"),
    (Setting("cnn", "", choices="cnn"), "choices='cnn' is not a non-empty tuple"),
    (Setting(4, "", type="int"), "type='int' is not a type or a tuple of types"),
    (Setting("vit", "", choices=("cnn", "resnet")), "the default at preset 'smoke', 'vit', breaks the setting's "
                                                    "own rules: 'vit' is not allowed: expected one of 'cnn', 'resnet'"),
    (Setting(PerPreset(smoke=1, small=0, paper=8), "", minimum=1), "the default at preset 'small', 0, breaks"),
    (Setting(3, "", check=lambda v: None if v % 2 == 0 else "odd"), "the default at preset 'smoke', 3, breaks the "
                                                                     "setting's own rules: odd"),
    (Setting(3, "", check=lambda v: 1 / 0), "its check raised ZeroDivisionError"),
])
def test_a_declaration_that_breaks_its_own_rules_says_what_and_how_to_fix_it(setting, expected):
    assert expected in setting.declaration_problem()


@pytest.mark.parametrize("setting", [
    Setting(PerPreset(smoke=1, small=10, paper=30), "", minimum=1),
    Setting(1e-3, "", minimum=0, exclusive_minimum=True, maximum=1),
    Setting("auto", "", choices=("auto",), type=(int, float), minimum=1),
    Setting("adapter", "", choices=["adapter", "scratch"]),
    Setting(None, ""),
])
def test_a_declaration_that_keeps_its_rules_has_no_problem(setting):
    assert setting.declaration_problem() is None

