"""Code fingerprints: a change in the code behind a result changes its run key and its cache
key; a change elsewhere does not."""

from __future__ import annotations

import pytest

from ucdbench import fingerprint
from ucdbench.fingerprint import code_fingerprint, module_closure
from ucdbench.plugins import load_registry
from ucdbench.runner import RunSpec, resolve


@pytest.fixture
def edited(monkeypatch):
    """``edited(module)``: from now on ``module``'s source reads as if a line were added to it."""
    real = fingerprint._source.__wrapped__

    def edit(module: str) -> None:
        def source(name: str):
            found = real(name)
            if name == module and found is not None:
                return found[0], found[1] + b"\n# an edit\n"
            return found

        monkeypatch.setattr(fingerprint, "_source", source)
        fingerprint.clear()

    yield edit
    fingerprint.clear()


def test_the_closure_follows_imports_within_the_distribution_only():
    closure = module_closure("ucdbench.runner")
    assert "ucdbench.runner" in closure and "ucdbench.plugins" in closure and "ucdbench.store" in closure
    assert not any(m.startswith(("torch", "pluggy")) for m in closure)
    assert "ucdbench.leaderboard" not in closure  # the runner does not import it


def _key(method: str, task: str = "digits") -> str:
    return resolve(load_registry(), RunSpec(method, task, "smoke", 0, "cpu", {})).key


def test_editing_a_method_reruns_that_method_only(edited):
    lora, full_ft = _key("lora"), _key("full-ft")
    edited(load_registry().get("method", "lora").target.partition(":")[0])
    assert _key("lora") != lora
    assert _key("full-ft") == full_ft


def test_editing_a_task_reruns_its_runs_and_editing_the_leaderboard_reruns_nothing(edited):
    digits, pydocs = _key("full-ft"), _key("full-ft", "pydocs")
    edited("ucdbench.leaderboard")
    assert (_key("full-ft"), _key("full-ft", "pydocs")) == (digits, pydocs)
    edited(load_registry().get("task", "pydocs").target.partition(":")[0])
    assert _key("full-ft", "pydocs") != pydocs and _key("full-ft") == digits


def test_an_in_suite_cache_entry_is_keyed_by_the_code_that_builds_it(edited, tmp_path, monkeypatch):
    from ucdbench.cache import cached_tensors

    import torch

    monkeypatch.setenv("UCDBENCH_CACHE", str(tmp_path))
    builds = []

    def build():
        builds.append(1)
        return {"w": torch.zeros(1)}

    pretraining = load_registry().load("task", "digits")._pretrain.__module__
    build.__module__ = pretraining  # as if build() were the image tasks' pretraining
    cached_tensors("kind", {"a": 1}, build)
    cached_tensors("kind", {"a": 1}, build)
    assert len(builds) == 1  # a hit
    edited("ucdbench.leaderboard")  # unrelated code
    cached_tensors("kind", {"a": 1}, build)
    assert len(builds) == 1
    edited(pretraining)  # the pretraining's own code
    cached_tensors("kind", {"a": 1}, build)
    assert len(builds) == 2  # rebuilt, not served


def test_a_third_party_module_is_fingerprinted_by_its_distribution_version():
    assert code_fingerprint("pluggy") == code_fingerprint("pluggy")
    assert code_fingerprint("pluggy") != code_fingerprint("tabulate")
