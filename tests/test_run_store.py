"""The run store's files (ucdbench.running.store): where each kind of file goes, the record's
on-disk form (stable for git diffs), records read oldest first, a run found by key, prefix or
path, and what a user is told about a file that is not a readable record of this schema."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.running.store import SCHEMA_VERSION, RunStore, default_results_dir, read_record


def test_the_results_folder_is_results_unless_ucdbench_results_says_where(tmp_path, monkeypatch):
    monkeypatch.delenv("UCDBENCH_RESULTS", raising=False)
    assert default_results_dir() == Path("results") and RunStore().root == Path("results")
    monkeypatch.setenv("UCDBENCH_RESULTS", str(tmp_path / "elsewhere"))
    assert RunStore().root == tmp_path / "elsewhere" and RunStore(tmp_path / "given").root == tmp_path / "given"


def test_each_kind_of_file_has_its_folder(tmp_path):
    store = RunStore(tmp_path)
    assert store.record_path("k1") == tmp_path / "runs" / "k1.json"
    assert store.artifact_path("k1") == tmp_path / "artifacts" / "k1.safetensors"
    assert store.attachment_path("k1", "sample-grid", "grid.png") == tmp_path / "attachments" / "k1" / "sample-grid" / "grid.png"


def test_a_record_is_written_with_sorted_keys_two_space_indent_and_paths_as_text(tmp_path):
    store = RunStore(tmp_path)
    path = store.write({"key": "k1", "schema": SCHEMA_VERSION, "data": Path("/data/digits"), "a": [1]})
    assert path.read_text() == ('{\n  "a": [\n    1\n  ],\n  "data": "/data/digits",\n  "key": "k1",\n'
                                f'  "schema": {SCHEMA_VERSION}\n}}\n')


def test_records_are_read_oldest_first_whatever_their_names(tmp_path):
    store = RunStore(tmp_path)
    for age, key in enumerate(["c", "a", "b"]):
        path = store.write({"key": key, "schema": SCHEMA_VERSION})
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    records, skipped = store.scan()
    assert [r["key"] for r in records] == ["c", "a", "b"] and skipped == []


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_what_a_user_is_told_about_a_file_that_is_not_a_record(tmp_path):
    folder = tmp_path / "runs" / "folder.json"
    folder.mkdir(parents=True)
    with pytest.raises(UcdbenchError, match=r"folder\.json is unreadable \(Is a directory\); check its permissions"):
        read_record(folder)
    with pytest.raises(UcdbenchError, match="is not valid JSON .*: a torn copy or an edited file; copy it again "
                                            "from where the run was recorded, or delete it$"):
        read_record(_write(tmp_path / "torn.json", '{"key": '))
    for text in ('["schema"]', '{"key": "k"}'):
        with pytest.raises(UcdbenchError, match=r"is not a ucdbench run record \(no 'schema' field\); move it out of "
                                                "the results folder$"):
            read_record(_write(tmp_path / "other.json", text))
    with pytest.raises(UcdbenchError, match=f"has record schema 99, this ucdbench reads schema {SCHEMA_VERSION}; "
                                            "upgrade ucdbench to read it$"):
        read_record(_write(tmp_path / "newer.json", '{"schema": 99}'))
    for older in ("1", '"3"'):
        with pytest.raises(UcdbenchError, match="; run it again to record it in this schema$"):
            read_record(_write(tmp_path / "older.json", f'{{"schema": {older}}}'))


def test_a_run_is_found_by_key_prefix_or_record_path_and_otherwise_the_user_is_told_what_to_give(tmp_path):
    store = RunStore(tmp_path)
    for key in ["abc1", "abc2", "abc3", "abc4", "abc5", "abc6", "xyz"]:
        store.write({"key": key, "schema": SCHEMA_VERSION})
    assert store.find("xy")["key"] == "xyz" and store.find(str(store.record_path("abc1")))["key"] == "abc1"
    with pytest.raises(UcdbenchError, match=r"^'abc' matches 6 runs: abc1, abc2, abc3, abc4, abc5; give more of the key$"):
        store.find("abc")
    with pytest.raises(UcdbenchError, match=r"^no run 'nope' in .*runs \(give a key, a key prefix or a record path; "
                                            r"`ls` that folder, or pass --results\)$"):
        store.find("nope")
    with pytest.raises(UcdbenchError, match="^no run "):
        store.find(str(tmp_path))  # a folder that exists is no record path: it is looked up as a key
