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
    site = (repo / "nightly" / "site" / "index.html").read_text()  # the site the workflow deploys to Pages
    assert 'href="digits.html"' in site and "LoRA beats the base" in site
    history = repo / "leaderboards" / "nightly" / "history.jsonl"
    assert len(history.read_text().splitlines()) == 1 and "history.jsonl" in _git(repo, "show", "--stat", "HEAD")

    last_night = tmp_path / "last-night"
    shutil.copytree(results, last_night)
    second = _nightly(repo, "--experiment", str(experiment), "--results", str(results), "--previous", str(last_night))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "no regression" in (results / "compare.md").read_text().lower()
    assert (repo / "leaderboards" / "nightly" / "compare.md").exists()
    assert 'href="compare.html"' in (repo / "nightly" / "site" / "index.html").read_text()
    assert len(history.read_text().splitlines()) == 1  # the same (cached) records: no second entry
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

    (repo / "leaderboards" / "accepted-changes.toml").write_text(  # the drop is reviewed and accepted
        '[[accept]]\nmethod = "lora"\ntask = "digits"\nfigure = "accuracy/top1"\nreason = "reviewed: intended"\n')
    fourth = _nightly(repo, "--experiment", str(experiment), "--results", str(results), "--previous", str(last_night))
    assert fourth.returncode == 0, fourth.stderr[-3000:]
    accepted = (results / "compare.md").read_text().split("## Accepted changes (1)")[1]
    assert "reviewed: intended" in accepted


def test_the_nightly_workflow_is_a_valid_github_actions_workflow(tmp_path):
    """The YAML the nightly runs from, against the GitHub workflow schema check-jsonschema vendors."""
    workflow = ROOT / ".github" / "workflows" / "nightly.yml"
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run([str(checker), "--builtin-schema", "vendor.github-workflows", str(workflow)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = workflow.read_text().replace("runs-on:", "runs_on:", 1)
    bad = tmp_path / "nightly.yml"
    bad.write_text(broken)
    rejected = subprocess.run([str(checker), "--builtin-schema", "vendor.github-workflows", str(bad)],
                              capture_output=True, text=True, timeout=120)
    assert rejected.returncode != 0  # the check can fail


def test_nightly_refuses_a_previous_folder_without_records(tmp_path):
    result = _nightly(tmp_path, "--previous", str(tmp_path / "nothing"))
    assert result.returncode == 2 and "holds no runs/ folder" in result.stderr
