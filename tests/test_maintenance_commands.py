"""`ucdbench cache info|clear`, in-process on hand-made cache entries (no runs needed)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ucdbench.cli import main


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache (never the session's): two kinds under ``pretrained``, one at the top,
    and a write in progress, which is not an entry."""
    root = tmp_path / "cache"
    for relative, size in (("pretrained/digits/a.safetensors", 100), ("pretrained/digits/b.safetensors", 20),
                           ("pretrained/pydocs/c.safetensors", 7), ("scene-views/d.safetensors", 3000),
                           ("scene-views/.d2.safetensors.123.tmp", 5)):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    monkeypatch.setenv("UCDBENCH_CACHE", str(root))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal, as in CI
    return root


def _kinds(capsys: pytest.CaptureFixture) -> dict[str, tuple[int, int]]:
    assert main(["cache", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    return {k["name"]: (k["entries"], k["bytes"]) for k in info["kinds"]}


def test_cache_info_counts_entries_and_bytes_per_kind(cache: Path, capsys: pytest.CaptureFixture):
    assert _kinds(capsys) == {"pretrained/digits": (2, 120), "pretrained/pydocs": (1, 7), "scene-views": (1, 3000)}
    assert main(["cache", "info"]) == 0
    text = capsys.readouterr().out
    assert f"cache: {cache} ($UCDBENCH_CACHE)" in text
    assert "scene-views" in text and "2.9 KiB" in text  # 3000 bytes
    assert text.splitlines()[-1].split() == ["total", "4", "3.1", "KiB"]  # 3127 bytes


def test_cache_clear_one_kind_or_a_folder_of_kinds(cache: Path, capsys: pytest.CaptureFixture):
    assert main(["cache", "clear", "scene-views", "--yes"]) == 0
    assert "deleted 1 entries (2.9 KiB) of scene-views" in capsys.readouterr().out
    assert (cache / "scene-views" / ".d2.safetensors.123.tmp").exists()  # a write in progress survives
    assert main(["cache", "clear", "pretrained", "--yes"]) == 0
    capsys.readouterr()
    assert _kinds(capsys) == {}


def test_cache_clear_asks_unless_told_yes(cache: Path, capsys: pytest.CaptureFixture, monkeypatch):
    assert main(["cache", "clear"]) == 2  # stdin is not a terminal: it cannot ask
    assert "pass --yes to confirm" in capsys.readouterr().err
    assert len(_kinds(capsys)) == 3

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal())
    answers = iter(["n", "y"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    assert main(["cache", "clear", "pretrained/pydocs"]) == 0
    assert "nothing deleted" in capsys.readouterr().out
    assert main(["cache", "clear", "pretrained/pydocs"]) == 0
    capsys.readouterr()
    assert set(_kinds(capsys)) == {"pretrained/digits", "scene-views"}


def test_cache_clear_of_an_unknown_kind_suggests_the_known_ones(cache: Path, capsys: pytest.CaptureFixture):
    assert main(["cache", "clear", "scene-view", "--yes"]) == 2
    error = capsys.readouterr().err
    assert "no cache kind 'scene-view'" in error and "Did you mean 'scene-views'" in error
    assert len(_kinds(capsys)) == 3  # nothing deleted
