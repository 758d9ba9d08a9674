"""The ViT methods on the imagenet task: a timm ViT found through the task's wrapper, built at
the task's image size, and run end to end on a tiny local ImageFolder."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import run_cli
from test_task_imagenet import make_task, write_image_folder
from ucdbench_plugins.shared.adaptive_vit.method import AViTMethod
from ucdbench_plugins.shared.vision import require_vit, vit_parts

VIT = "test_vit"
"""timm's tiny test ViT (64 channels); its own input size is 160, the tests use 48."""
SIZE = 48


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "imagenet"
    write_image_folder(root, {"train": 4, "val": 2})
    return root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """Random weights of the tiny ViT at its own size and 1000 classes, as a published checkpoint."""
    import timm

    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / f"{VIT}.pth"
    torch.save(timm.create_model(VIT, num_classes=1000).state_dict(), path)
    return path


def test_the_check_asks_the_model_through_the_wrapper_before_any_data():
    assert require_vit(make_task(model=VIT)) is None  # unprepared: no data, no weights
    assert require_vit(make_task(model="deit_tiny_patch16_224")) is None
    refused = require_vit(make_task(model="resnet18"))
    assert "ResNet" in refused and "task.model='resnet18'" in refused
    assert "is not a timm model" in require_vit(make_task(model="vit"))


def test_a_vit_is_built_at_the_task_image_size_from_a_checkpoint_at_another(fake_root, checkpoint):
    task = make_task(fake_root, model=VIT, image_size=SIZE, checkpoint=str(checkpoint))
    task.prepare()
    model = task.base_model(pretrained=True)
    images = torch.rand(2, 3, SIZE, SIZE)
    assert model(images).shape == (2, 3)
    assert model.features.patch_embed.img_size == (SIZE, SIZE)


def test_the_adaptive_vit_wraps_the_inner_vit_and_keeps_the_normalisation(fake_root, checkpoint):
    task = make_task(fake_root, model=VIT, image_size=SIZE, checkpoint=str(checkpoint))
    task.prepare()
    images = torch.rand(2, 3, SIZE, SIZE)
    dense = task.base_model(pretrained=True).eval()
    expected = dense(images)
    method = AViTMethod()
    adaptive = method.around(task, dense, {"gate_scale": 10.0, "gate_center": 10.0, "eps": 0.01, "target_depth": 2})
    assert adaptive.vit is vit_parts(task, dense)[0]
    with adaptive.eval().forced_compute("max"):  # nothing halts: A-ViT's head sees the dense class token
        assert torch.allclose(adaptive(images), expected, atol=1e-5)
    assert not torch.allclose(adaptive.vit.forward(images), expected, atol=1e-3)  # without the normalisation


@pytest.mark.parametrize("method, settings", [
    ("avit", ["epochs=1"]),
    ("ats", ["epochs=1"]),
    ("slowformer", ["epochs=1", 'target_settings={"epochs": 1}']),
])
def test_the_adaptive_vits_run_on_imagenet(method, settings, fake_root, checkpoint, tmp_path):
    sets = [f"task.root={fake_root}", f"task.model={VIT}", f"task.image_size={SIZE}", f"task.checkpoint={checkpoint}",
            "task.max_eval_images=6", *settings]
    result = run_cli("run", "--method", method, "--task", "imagenet", "--preset", "smoke",
                     *[arg for value in sets for arg in ("--set", value)], results=tmp_path / "results")
    assert result.returncode == 0, result.stderr
    (record_file,) = (tmp_path / "results" / "runs").glob("*.json")
    record = json.loads(record_file.read_text())
    assert record["status"] == "ok", record
    # an attack's patch alone is scored under the patch only: the clean figures are its target's row
    top1 = "top1_transformed" if record["artifact_kind"] == "input-transform" else "top1"
    assert (method == "slowformer") == (top1 == "top1_transformed")
    assert 0 <= record["evaluations"]["accuracy"][top1] <= 100
    assert record["evaluations"]["reconstruction"]["weights_equal"]  # rebuilt around the inner ViT too


def test_sima_refuses_imagenet_before_any_run(fake_root, checkpoint, tmp_path):
    result = run_cli("run", "--method", "sima", "--task", "imagenet", "--preset", "smoke", "--set", f"task.root={fake_root}",
                     "--set", f"task.model={VIT}", results=tmp_path / "results")
    assert result.returncode == 2 and "not supported yet" in result.stderr
    assert not (tmp_path / "results" / "runs").exists()
