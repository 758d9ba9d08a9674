"""A task's missing data is a usage error before the first run: exit 2, the fix on stderr, no record."""

from __future__ import annotations

import pytest

from conftest import run_cli

pytestmark = pytest.mark.ucdbench_e2e


@pytest.mark.parametrize("method, task, preset, variable, fix", [
    ("mcnc", "imagenet", "small", "UCDBENCH_IMAGENET", "set $UCDBENCH_IMAGENET (or --set task.root=PATH)"),
    ("byol", "video", "small", "UCDBENCH_VIDEO", "set $UCDBENCH_VIDEO (or --set task.root=PATH)"),
    ("genie", "fewshot", "paper", "UCDBENCH_FEWSHOT_DATA", "set task.folder (or $UCDBENCH_FEWSHOT_DATA)"),
])
def test_a_task_without_its_dataset_is_a_usage_error_before_any_run(tmp_path, monkeypatch, method, task, preset,
                                                                     variable, fix):
    monkeypatch.delenv(variable, raising=False)
    results = tmp_path / "results"
    result = run_cli("run", "--method", method, "--task", task, "--preset", preset, results=results)
    assert result.returncode == 2, result.stderr
    assert f"task {task!r}: " in result.stderr and fix in result.stderr
    assert "Traceback" not in result.stderr
    assert not results.exists(), "nothing may run, or be recorded, when a task's data is missing"

