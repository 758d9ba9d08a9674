"""What a user mistypes in a local-dataset task's settings — a model timm does not have, a
checkpoint or dataset folder that is not there — is a usage error before the first run (exit 2,
what is wrong and how to fix it on stderr, no record), not a run that fails once started."""

from __future__ import annotations

import pytest

from conftest import run_cli

pytestmark = pytest.mark.ucdbench_e2e


@pytest.fixture(scope="module")
def split_root(tmp_path_factory):
    """A folder with empty train/ and val/ splits: enough for the checks, which read no data."""
    root = tmp_path_factory.mktemp("data")
    for split in ("train", "val"):
        (root / split).mkdir()
    return root


@pytest.mark.parametrize("method, task", [("full-ft", "imagenet"), ("byol", "video")])
@pytest.mark.parametrize("setting, expected", [
    ("task.model=resnet_18", ["task.model='resnet_18' is not a timm model", "did you mean", "resnet18"]),
    ("task.checkpoint={missing}", ["task.checkpoint={missing!r} is not a file", "leave it ''"]),
    ("task.root={no_splits}", ["task.root={no_splits!r} has no train/ and val/ folders", "--set task.root=PATH"]),
])
def test_a_wrong_setting_is_a_usage_error_before_any_run(method, task, setting, expected, split_root, tmp_path):
    paths = {"missing": str(tmp_path / "weights.pth"), "no_splits": str(split_root / "train")}
    results = tmp_path / "results"
    result = run_cli("run", "--method", method, "--task", task, "--set", f"task.root={split_root}",
                     "--set", setting.format(**paths), results=results)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in expected:
        assert fragment.format(**paths) in result.stderr
    assert not results.exists(), "nothing may run, or be recorded, before the settings are right"


def test_a_fewshot_folder_that_is_not_there_is_a_usage_error_before_any_run(tmp_path):
    missing = tmp_path / "mini-imagenet"
    results = tmp_path / "results"
    result = run_cli("run", "--method", "fewshot-none", "--task", "fewshot", "--preset", "paper",
                     "--set", f"task.folder={missing}", results=results)
    assert result.returncode == 2, result.stderr
    assert str(missing) in result.stderr and "base/" in result.stderr and "Traceback" not in result.stderr
    assert not results.exists()
