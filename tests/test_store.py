"""Record files: atomic writes, lookup by key prefix."""

from __future__ import annotations

import json

import pytest

from ucdbench.running.cache import atomic_write_bytes, cached_tensors
from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.running.store import SCHEMA_VERSION, RunStore


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    store = RunStore(tmp_path)
    store.write({"schema": SCHEMA_VERSION, "key": "abc123", "status": "running"})
    store.write({"schema": SCHEMA_VERSION, "key": "abc123", "status": "ok"})
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["abc123.json"]
    assert store.get("abc123")["status"] == "ok"


def test_find_by_prefix_path_and_ambiguity(tmp_path):
    store = RunStore(tmp_path)
    for key in ("aaa111", "aab222"):
        store.write({"schema": SCHEMA_VERSION, "key": key, "status": "ok"})
    assert store.find("aaa")["key"] == "aaa111"
    assert store.find(str(store.record_path("aab222")))["key"] == "aab222"
    with pytest.raises(UcdbenchError, match="matches 2 runs"):
        store.find("aa")
    with pytest.raises(UcdbenchError, match="no run 'zzz'"):
        store.find("zzz")


def test_scan_skips_unreadable_and_other_schemas_and_says_why(tmp_path):
    store = RunStore(tmp_path)
    store.write({"schema": SCHEMA_VERSION, "key": "good", "status": "ok"})
    store.write({"schema": SCHEMA_VERSION + 1, "key": "future", "status": "ok"})
    (tmp_path / "runs" / "torn.json").write_text('{"schema": 1, "key"')
    (tmp_path / "runs" / "list.json").write_text("[1, 2]")
    records, skipped = store.scan()
    assert [r["key"] for r in records] == ["good"]
    reasons = {s.path.name: s.reason for s in skipped}
    assert set(reasons) == {"future.json", "torn.json", "list.json"}
    assert f"schema {SCHEMA_VERSION + 1}" in reasons["future.json"] and "upgrade ucdbench" in reasons["future.json"]
    assert "not valid JSON" in reasons["torn.json"] and "delete it" in reasons["torn.json"]
    assert "not a ucdbench run record" in reasons["list.json"]


def test_show_of_a_torn_record_is_a_clear_error(tmp_path):
    store = RunStore(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "abc.json").write_text('{"schema": 1, "key"')
    with pytest.raises(UcdbenchError, match="abc.json is not valid JSON"):
        store.find("abc")


def test_cache_builds_once(tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("UCDBENCH_CACHE", str(tmp_path))
    calls = []

    def build():
        calls.append(1)
        return {"w": torch.arange(4.0)}

    first = cached_tensors("things", {"a": 1}, build)
    second = cached_tensors("things", {"a": 1}, build)
    cached_tensors("things", {"a": 2}, build)
    assert len(calls) == 2 and torch.equal(first["w"], second["w"])


def test_a_cache_entry_built_on_other_threads_is_not_served(tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("UCDBENCH_CACHE", str(tmp_path))
    calls = []

    def build():
        calls.append(torch.get_num_threads())
        return {"w": torch.arange(4.0)}

    threads = torch.get_num_threads()
    try:
        for n in (1, 2, 1):
            torch.set_num_threads(n)
            cached_tensors("things", {"a": 1}, build)
    finally:
        torch.set_num_threads(threads)
    assert calls == [1, 2]  # built once per thread count, served the second time on one thread


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "x.json"
    atomic_write_bytes(path, json.dumps({"v": 1}).encode())
    atomic_write_bytes(path, json.dumps({"v": 2}).encode())
    assert json.loads(path.read_text()) == {"v": 2}
    assert list(tmp_path.iterdir()) == [path]
