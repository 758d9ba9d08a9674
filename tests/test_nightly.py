"""The nightly script end to end at smoke scale, against a temporary git repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = """
[experiment]
preset = "smoke"
seeds = [0, 1, 2]

[[runs]]
task = "digits"
methods = ["base", "lora"]

[[claims]]
name = "LoRA beats the base"
task = "digits"
figure = "accuracy/top1"
better = { method = "lora" }
than = { method = "base" }
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def _nightly(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([str(ROOT / ".ci" / "nightly"), "--repo", str(repo), "--no-install", *args],
                          capture_output=True, text=True, env=env, timeout=900)


@pytest.mark.ucdbench_e2e
def test_nightly_commits_clean_nights_and_refuses_a_regression(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "test@ucdbench.invalid")
    _git(repo, "config", "user.name", "test")
    (repo / "README.md").write_text("a repository the nightly commits into\n")
    _git(repo, "add", "README.md")
    _git(repo, "commit", "-qm", "start")
    experiment = tmp_path / "nightly.toml"
    experiment.write_text(EXPERIMENT)
    results = tmp_path / "night1"

    first = _nightly(repo, "--experiment", str(experiment), "--results", str(results))
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Nightly leaderboards of" in _git(repo, "log", "-1", "--format=%s")
    index = (repo / "leaderboards" / "nightly" / "README.md").read_text()
    assert "LoRA beats the base" in index and (repo / "leaderboards" / "nightly" / "digits.md").exists()

    last_night = tmp_path / "last-night"
    shutil.copytree(results, last_night)
    second = _nightly(repo, "--experiment", str(experiment), "--results", str(results), "--previous", str(last_night))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "no regression" in (results / "compare.md").read_text().lower()
    assert (repo / "leaderboards" / "nightly" / "compare.md").exists()
    commits = _git(repo, "rev-list", "--count", "HEAD")

    for path in (last_night / "runs").glob("*.json"):  # last night's LoRA was 5 points better on every seed
        record = json.loads(path.read_text())
        if record["method"]["name"] == "lora":
            record["evaluations"]["accuracy"]["top1"] += 5.0
            path.write_text(json.dumps(record))
    third = _nightly(repo, "--experiment", str(experiment), "--results", str(results), "--previous", str(last_night))
    assert third.returncode == 1
    report = (results / "compare.md").read_text()
    assert "lora" in report and "top1" in report and "regression" in report.lower()
    assert _git(repo, "rev-list", "--count", "HEAD") == commits  # nothing committed after a regression
    assert "uncommitted" in third.stderr


def test_nightly_refuses_a_previous_folder_without_records(tmp_path):
    result = _nightly(tmp_path, "--previous", str(tmp_path / "nothing"))
    assert result.returncode == 2 and "holds no runs/ folder" in result.stderr
