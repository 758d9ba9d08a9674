"""The imagenet task on a tiny fake ImageFolder: fail-fast without data, the real code path with."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from ucdbench.interfaces import UcdbenchError
from ucdbench_plugins.tasks.imagenet.task import ImageNet

CPU = torch.device("cpu")
CLASSES = ("ant", "bee", "cat")


def write_image_folder(root, per_class: dict[str, int]) -> None:
    """32x32 PNGs, one colour channel dominant per class, in train/ and val/."""
    rng = np.random.default_rng(0)
    for split, count in per_class.items():
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 80, (32, 32, 3), dtype=np.uint8)
                pixels[..., label] += 170
                Image.fromarray(pixels).save(folder / f"{i}.png")


@pytest.fixture
def fake_root(tmp_path):
    write_image_folder(tmp_path / "imagenet", {"train": 4, "val": 2})
    return tmp_path / "imagenet"


def make_task(root="", **overrides) -> ImageNet:
    config = {**ImageNet.defaults("smoke"), "root": str(root), "image_size": 32, **overrides}
    return ImageNet("smoke", 0, config)


def test_without_data_it_fails_fast_naming_the_variable(monkeypatch):
    monkeypatch.delenv("UCDBENCH_IMAGENET", raising=False)
    with pytest.raises(UcdbenchError, match="UCDBENCH_IMAGENET.*train/ and val/"):
        make_task().prepare()


def test_a_root_without_splits_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("UCDBENCH_IMAGENET", str(tmp_path))
    with pytest.raises(UcdbenchError, match="no train/ and val/ folders"):
        make_task().prepare()


def test_fake_image_folder_trains_and_evaluates_end_to_end(fake_root, monkeypatch):
    monkeypatch.setenv("UCDBENCH_IMAGENET", str(fake_root))
    task = make_task()
    task.prepare()
    assert task.num_classes == 3 and len(task.train_set) == 12 and len(task.eval_set) == 6
    batches = list(task.train_batches(batch_size=4, epochs=1.0))
    assert len(batches) == 3
    x, y = batches[0]
    assert x.shape == (4, 3, 32, 32) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert set(torch.cat([b[1] for b in batches]).tolist()) == {0, 1, 2}
    model = task.base_model(pretrained=False)
    assert model.head.out_features == 3
    task.loss(model, batches[0], CPU).backward()
    seen = []
    metrics = task.evaluate(model, CPU, input_transform=lambda x: seen.append(x.shape) or x)
    assert seen and 0.0 <= metrics["top1"] <= 100.0
    assert metrics["top5"] == 100.0  # with 3 classes every label is in the top 5
    assert task.sample_inputs(8, CPU).shape == (8, 3, 32, 32)


def test_a_local_checkpoint_gives_the_base_weights_and_a_fresh_head(fake_root, tmp_path):
    import timm

    torch.manual_seed(1)
    published = timm.create_model("resnet18", num_classes=1000)
    checkpoint = tmp_path / "resnet18.pth"
    torch.save(published.state_dict(), checkpoint)
    task = make_task(fake_root, checkpoint=str(checkpoint))
    task.prepare()
    loaded = task.base_model(pretrained=True).state_dict()
    assert torch.equal(loaded["features.conv1.weight"], published.state_dict()["conv1.weight"])
    assert loaded["head.weight"].shape == (3, 512)


@pytest.mark.skipif(os.environ.get("HF_HUB_OFFLINE", "") in ("", "0"), reason="needs HF_HUB_OFFLINE=1")
def test_hub_weights_offline_fail_with_the_fix(fake_root):
    task = make_task(fake_root, model="test_vit")
    task.prepare()
    with pytest.raises(UcdbenchError, match="task.checkpoint=PATH"):
        task.base_model(pretrained=True)


def test_a_saved_datasets_copy_is_read_too(tmp_path):
    import datasets

    write_image_folder(tmp_path / "folder", {"train": 2, "val": 1})
    images = {split: sorted((tmp_path / "folder" / split).glob("*/*.png")) for split in ("train", "val")}
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list(CLASSES))})
    copy = datasets.DatasetDict({
        name: datasets.Dataset.from_dict(
            {"image": [str(p) for p in paths], "label": [CLASSES.index(p.parent.name) for p in paths]}, features=features)
        for name, paths in (("train", images["train"]), ("validation", images["val"]))
    })
    copy.save_to_disk(str(tmp_path / "saved"))
    task = make_task(tmp_path / "saved")
    task.prepare()
    assert task.class_names == list(CLASSES) and len(task.eval_set) == 3
    assert 0.0 <= task.evaluate(task.base_model(pretrained=False), CPU)["top1"] <= 100.0
