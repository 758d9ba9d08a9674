"""The on-disk cache's keys and entries (ucdbench.running.cache): where it lives, keys that do not
depend on how a config was typed, the code behind a bound method's subclass in an entry's key, and
an entry that says which config built it."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open

from ucdbench.running.cache import atomic_write_bytes, build_code, cache_dir, cached_tensors, config_key
from ucdbench.running.fingerprint import code_fingerprint
from ucdbench.running.store import RunStore


def test_the_cache_is_under_the_home_folder_unless_ucdbench_cache_says_where(tmp_path, monkeypatch):
    monkeypatch.delenv("UCDBENCH_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "ucdbench" and cache_dir().is_dir()  # parents made
    monkeypatch.setenv("UCDBENCH_CACHE", str(tmp_path / "elsewhere" / "cache"))
    assert cache_dir() == tmp_path / "elsewhere" / "cache" and cache_dir().is_dir()


def test_a_config_s_key_is_short_and_does_not_depend_on_key_order():
    key = config_key({"lr": 0.1, "rank": 8, "data": Path("/data/digits")})  # a Path is keyed by its text
    assert key == config_key({"data": "/data/digits", "rank": 8, "lr": 0.1})
    assert len(key) == 16 and int(key, 16) >= 0
    assert key != config_key({"data": "/data/digits", "rank": 4, "lr": 0.1})


def test_an_atomic_write_makes_its_folders_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "a" / "b" / "entry.bin"
    atomic_write_bytes(path, b"first")
    atomic_write_bytes(path, b"second")
    assert path.read_bytes() == b"second" and sorted(p.name for p in path.parent.iterdir()) == ["entry.bin"]


class SubclassedStore(RunStore):
    """A subclass in another module than the method it inherits: the code its bound methods run includes this file."""


def _plain() -> None:
    """A function of this module."""


def test_the_code_behind_a_bound_method_includes_its_object_s_class_module():
    assert build_code(RunStore().scan) == code_fingerprint("ucdbench.running.store")
    assert build_code(SubclassedStore().scan) == code_fingerprint("ucdbench.running.store", __name__)
    assert build_code(SubclassedStore().scan) != build_code(RunStore().scan)
    assert build_code(_plain) == code_fingerprint(__name__)


def test_an_entry_is_built_once_and_says_which_config_built_it(tmp_path, monkeypatch):
    monkeypatch.setenv("UCDBENCH_CACHE", str(tmp_path))
    calls = []

    def build() -> dict:
        calls.append(1)
        return {"weight": torch.arange(4.0)}

    config = {"rank": 8, "lr": 0.1}
    first = cached_tensors("kind", config, build)
    again = cached_tensors("kind", {"lr": 0.1, "rank": 8}, build)
    assert len(calls) == 1 and torch.equal(first["weight"], again["weight"])
    (entry,) = (tmp_path / "kind").iterdir()
    with safe_open(str(entry), "pt") as handle:
        assert handle.metadata() == {"config": json.dumps({"lr": 0.1, "rank": 8})}


def test_kinds_are_selected_by_name_or_folder_and_an_unknown_one_lists_the_known_ones(tmp_path, monkeypatch):
    import pytest

    from ucdbench.contracts.interfaces import UcdbenchError
    from ucdbench.running.cache import select_cache_kinds

    monkeypatch.setenv("UCDBENCH_CACHE", str(tmp_path))
    with pytest.raises(UcdbenchError, match=r"Kinds: none \(the cache is empty\); see `ucdbench cache info`$"):
        select_cache_kinds(["pretrained"])
    for kind in ("pretrained/digits", "pretrained/pydocs", "scene-views"):
        atomic_write_bytes(tmp_path / kind / "entry.safetensors", b"x")
    assert [k.name for k in select_cache_kinds(["pretrained/"])] == ["pretrained/digits", "pretrained/pydocs"]
    assert [k.name for k in select_cache_kinds(["/scene-views"])] == ["scene-views"]
    with pytest.raises(UcdbenchError, match=r"Kinds: pretrained/digits, pretrained/pydocs, scene-views; see "):
        select_cache_kinds(["nothing"])
