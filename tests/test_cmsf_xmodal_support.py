"""cmsf-xmodal runs where a second modality exists, and its paper default is valid on its paper's task."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.running.runner import merge_config
from ucdbench_plugins.methods.mean_shift.method import CrossModalCMSF
from ucdbench_plugins.tasks.images.datasets import MNIST
from ucdbench_plugins.tasks.video.task import Video


def test_the_support_matrix_offers_it_only_on_tasks_with_a_second_modality():
    result = run_cli("list", "--matrix", "--json")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)["cmsf-xmodal"]
    assert row["video"] is None and row["mnist"] is None
    assert "second modality" in row["imagenet"]


@pytest.mark.parametrize("preset, task, modality", [("paper", Video, "flow"), ("smoke", MNIST, "edges")])
def test_the_default_other_run_is_valid_on_the_task_it_is_meant_for(preset, task, modality):
    (reference,) = CrossModalCMSF.settings["other"].references(CrossModalCMSF.settings["other"].default_at(preset))
    assert reference.method == "byol"
    task_overrides = {key[len("task."):]: value for key, value in reference.overrides if key.startswith("task.")}
    assert task_overrides == {"modality": modality}
    assert merge_config(task, preset, task_overrides, "task")["modality"] == modality


def test_the_old_default_is_refused_on_video():
    with pytest.raises(UcdbenchError, match="edges"):
        merge_config(Video, "paper", {"modality": "edges"}, "task")
