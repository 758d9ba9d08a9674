"""Settings, run keys and run resolution."""

from __future__ import annotations

import pytest

from ucdbench.contracts.interfaces import Configurable, PerPreset, Setting, UcdbenchError
from ucdbench.contracts.settings import PerTask
from ucdbench.discovery.registry import load_registry
from ucdbench.running.runner import RunSpec, expand_specs, merge_config, parse_assignments, resolve


def test_values_parse_as_json_else_string():
    assert parse_assignments(["lr=1e-3", "flag=true", "name=vit", "ids=[1,2]"]) == [
        {"lr": 0.001, "flag": True, "name": "vit", "ids": [1, 2]}]


def test_a_json_object_is_one_value_not_a_sweep():
    assert parse_assignments(['target_settings={"stages": [3, 4], "budget": 0.5}']) == [
        {"target_settings": {"stages": [3, 4], "budget": 0.5}}]


def test_commas_sweep_a_grid():
    grid = parse_assignments(["rank=1,4", "task.model=vit,cnn"])
    assert len(grid) == 4 and {"rank": 4, "task.model": "cnn"} in grid


def test_specs_cover_methods_seeds_and_grid():
    specs = expand_specs(["lora", "full-ft"], "digits", "smoke", [0, 1, 2], "cpu", ["lr=1e-3,1e-2"])
    assert len(specs) == 12


class _Configured(Configurable):
    settings = {"lr": Setting(1.0, "learning rate", minimum=0, exclusive_minimum=True),
                "epochs": Setting(PerPreset(smoke=1, small=10, paper=100), "passes over the data", minimum=1)}


def test_unknown_setting_lists_the_valid_ones_and_close_matches():
    with pytest.raises(UcdbenchError, match="no setting 'lrr'; its settings: epochs, lr. Did you mean 'lr'"):
        merge_config(_Configured, "smoke", {"lrr": 2}, "method 'x'")


def test_settings_resolve_per_preset_and_reject_values_they_do_not_allow():
    assert merge_config(_Configured, "small", {"lr": 3}, "method 'x'") == {"lr": 3, "epochs": 10}
    with pytest.raises(UcdbenchError, match=r"epochs=0: 0 is not allowed: expected an integer ≥ 1 \(passes"):
        merge_config(_Configured, "small", {"epochs": 0}, "method 'x'")
    with pytest.raises(UcdbenchError, match=r"lr='abc': 'abc' is not allowed: expected a number > 0"):
        merge_config(_Configured, "small", {"lr": "abc"}, "method 'x'")


def test_settings_declared_through_defaults_are_checked_by_their_default_type():
    class Legacy(Configurable):
        @classmethod
        def defaults(cls, preset):
            return {"rank": 4}

    assert merge_config(Legacy, "smoke", {"rank": 8}, "method 'legacy'") == {"rank": 8}
    assert merge_config(Legacy, "smoke", {"rank": 2.5}, "method 'legacy'") == {"rank": 2.5}  # a number, unsaid which
    with pytest.raises(UcdbenchError, match="rank='abc'"):
        merge_config(Legacy, "smoke", {"rank": "abc"}, "method 'legacy'")


def test_a_negative_seed_is_a_usage_error():
    with pytest.raises(UcdbenchError, match="a seed is an integer ≥ 0"):
        resolve(load_registry(), RunSpec("lora", "digits", "smoke", -1, "cpu", {}))


def test_run_key_depends_on_what_changes_the_result():
    registry = load_registry()
    key = lambda **kw: resolve(registry, RunSpec("lora", "digits", "smoke", kw.get("seed", 0), "cpu", kw.get("o", {}))).key
    assert key() == key()
    assert len({key(), key(seed=1), key(o={"rank": 2}), key(o={"task.model": "cnn"}),
                key(o={"eval.latency.batch_size": 4})}) == 5


def test_the_thread_count_is_part_of_the_key_and_defaults_to_this_process_s():
    import torch

    registry = load_registry()
    key = lambda threads: resolve(registry, RunSpec("lora", "digits", "smoke", 0, "cpu", {}, threads)).key
    assert key(None) == key(torch.get_num_threads())  # resolved, so a worker reproduces the driver's key
    assert key(1) != key(2)  # CPU float reductions, so results, depend on it
    assert resolve(registry, RunSpec("lora", "digits", "smoke", 0, "cpu")).spec.threads == torch.get_num_threads()
    with pytest.raises(UcdbenchError, match="CPU threads ≥ 1"):
        key(0)


def test_eval_settings_are_checked():
    registry = load_registry()
    with pytest.raises(UcdbenchError, match="eval.<evaluation>.<setting>"):
        resolve(registry, RunSpec("lora", "digits", "smoke", 0, "cpu", {"eval.speed.x": 1}))
    with pytest.raises(UcdbenchError, match="evaluation 'latency' has no setting 'batch'"):
        resolve(registry, RunSpec("lora", "digits", "smoke", 0, "cpu", {"eval.latency.batch": 1}))


def test_unknown_preset():
    with pytest.raises(UcdbenchError, match="unknown preset 'tiny'"):
        resolve(load_registry(), RunSpec("lora", "digits", "tiny", 0, "cpu"))


def test_a_default_that_follows_the_task_is_resolved_for_the_runs_task_and_a_given_value_wins():
    class PerModel(Configurable):
        settings = {"gate": Setting(PerPreset(1.0, 1.0, PerTask("model", {"big": 75.0}, otherwise=30.0)), "")}

    assert merge_config(PerModel, "paper", {}, "m", {"model": "big"}) == {"gate": 75.0}
    assert merge_config(PerModel, "paper", {}, "m", {"model": "tiny"}) == {"gate": 30.0}
    assert merge_config(PerModel, "paper", {"gate": 5.0}, "m", {"model": "big"}) == {"gate": 5.0}
    assert merge_config(PerModel, "small", {}, "m", {"model": "big"}) == {"gate": 1.0}
