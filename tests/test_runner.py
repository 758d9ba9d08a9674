"""Settings, run keys and run resolution."""

from __future__ import annotations

import pytest

from ucdbench.interfaces import UcdbenchError
from ucdbench.plugins import load_registry
from ucdbench.runner import RunSpec, expand_specs, merge_config, parse_assignments, resolve


def test_values_parse_as_json_else_string():
    assert parse_assignments(["lr=1e-3", "flag=true", "name=vit", "ids=[1,2]"]) == [
        {"lr": 0.001, "flag": True, "name": "vit", "ids": [1, 2]}]


def test_commas_sweep_a_grid():
    grid = parse_assignments(["rank=1,4", "task.model=vit,cnn"])
    assert len(grid) == 4 and {"rank": 4, "task.model": "cnn"} in grid


def test_specs_cover_methods_seeds_and_grid():
    specs = expand_specs(["lora", "full-ft"], "digits", "smoke", [0, 1, 2], "cpu", ["lr=1e-3,1e-2"])
    assert len(specs) == 12


def test_unknown_setting_lists_the_valid_ones():
    with pytest.raises(UcdbenchError, match="no setting 'lrr'; its settings: epochs, lr"):
        merge_config({"lr": 1.0, "epochs": 1}, {"lrr": 2}, "method 'x'")


def test_run_key_depends_on_what_changes_the_result():
    registry = load_registry()
    key = lambda **kw: resolve(registry, RunSpec("lora", "digits", "smoke", kw.get("seed", 0), "cpu", kw.get("o", {}))).key
    assert key() == key()
    assert len({key(), key(seed=1), key(o={"rank": 2}), key(o={"task.model": "cnn"}),
                key(o={"eval.latency.batch_size": 4})}) == 5


def test_eval_settings_are_checked():
    registry = load_registry()
    with pytest.raises(UcdbenchError, match="eval.<evaluation>.<setting>"):
        resolve(registry, RunSpec("lora", "digits", "smoke", 0, "cpu", {"eval.speed.x": 1}))
    with pytest.raises(UcdbenchError, match="evaluation 'latency' has no setting 'batch'"):
        resolve(registry, RunSpec("lora", "digits", "smoke", 0, "cpu", {"eval.latency.batch": 1}))


def test_unknown_preset():
    with pytest.raises(UcdbenchError, match="unknown preset 'tiny'"):
        resolve(load_registry(), RunSpec("lora", "digits", "tiny", 0, "cpu"))
