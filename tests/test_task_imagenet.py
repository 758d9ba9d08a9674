"""The imagenet task on a tiny fake ImageFolder: fail-fast without data, the real code path with."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_cli
from ucdbench.api import LabelledBatch, ViewBatch
from ucdbench.contracts.interfaces import UcdbenchError
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


def test_what_is_missing_is_named_with_its_fix_and_nothing_is_read(fake_root, tmp_path, monkeypatch):
    monkeypatch.delenv("UCDBENCH_IMAGENET", raising=False)
    fix = "set $UCDBENCH_IMAGENET (or --set task.root=PATH) to an ImageFolder tree"
    assert make_task().unavailable_reason().startswith(f"no local dataset is configured: {fix}")
    none = tmp_path / "none"
    assert make_task(none).unavailable_reason().startswith(f"task.root={str(none)!r} is not a folder: {fix}")
    monkeypatch.setenv("UCDBENCH_IMAGENET", str(none))
    assert make_task().unavailable_reason().startswith(f"$UCDBENCH_IMAGENET={str(none)!r} is not a folder: {fix}")
    assert make_task(fake_root).unavailable_reason() is None  # task.root wins over the variable
    assert make_task(tmp_path).unavailable_reason().startswith(f"task.root={str(tmp_path)!r} has no train/ and val/ "
                                                               f"folders: {fix}")
    listed = tmp_path / "10percent.txt"
    assert make_task(fake_root, labelled_list=str(listed)).unavailable_reason().startswith(
        f"task.labelled_list={str(listed)!r} is not a file")
    listed.write_text("0.png\n")
    assert make_task(fake_root, labelled_list=str(listed)).unavailable_reason() is None


def test_fake_image_folder_trains_and_evaluates_end_to_end(fake_root, monkeypatch):
    monkeypatch.setenv("UCDBENCH_IMAGENET", str(fake_root))
    task = make_task()
    task.prepare()
    assert task.num_classes == 3 and len(task.train_images) == 12 and len(task.eval_images) == 6
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
    assert task.class_names == list(CLASSES) and len(task.eval_images) == 3
    assert 0.0 <= task.evaluate(task.base_model(pretrained=False), CPU)["top1"] <= 100.0


def _prepared(root, seed: int = 0, **overrides) -> ImageNet:
    config = {**ImageNet.defaults("smoke"), "root": str(root), "image_size": 32, **overrides}
    task = ImageNet("smoke", seed, config)
    task.prepare()
    return task


def test_two_views_of_each_image_follow_the_seed(fake_root):
    def first_batch(seed):
        return ViewBatch(*next(iter(_prepared(fake_root, seed).view_batches(6, 1))))

    batch, again, other = first_batch(0), first_batch(0), first_batch(1)
    assert batch.strong.shape == batch.weak.shape == (6, 3, 32, 32)
    assert 0.0 <= float(batch.strong.min()) and float(batch.strong.max()) <= 1.0
    assert not torch.equal(batch.strong, batch.weak)
    assert torch.equal(batch.strong, again.strong) and torch.equal(batch.index, again.index)
    assert not torch.equal(batch.strong, other.strong)
    assert torch.equal(batch.label, batch.true_label)  # no noise, all labelled
    loaded_elsewhere = ViewBatch(*next(iter(_prepared(fake_root, 0, workers=1).view_batches(6, 1))))
    assert torch.equal(batch.strong, loaded_elsewhere.strong) and torch.equal(batch.weak, loaded_elsewhere.weak)


def test_labelled_batches_stream_each_split_once_in_order_through_the_eval_transform(fake_root):
    task = _prepared(fake_root)
    batches = [LabelledBatch(*b) for b in task.labelled_batches("eval", 4)]
    assert [len(b.index) for b in batches] == [4, 2]
    assert torch.equal(torch.cat([b.index for b in batches]), torch.arange(6))
    scored = list(task.eval_batches(4))
    assert all(torch.equal(b.images, x) and torch.equal(b.label, y) for b, (x, y) in zip(batches, scored))
    train = [LabelledBatch(*b) for b in task.labelled_batches("train", 5)]
    assert torch.equal(torch.cat([b.label for b in train]), task.true_labels)
    with pytest.raises(ValueError, match="'train' or 'eval'"):
        next(iter(task.labelled_batches("test", 4)))


def test_label_noise_reaches_training_but_not_scoring(fake_root):
    task = _prepared(fake_root, label_noise=0.5)
    assert int((task.train_labels != task.true_labels).sum()) == 6  # half of 12
    trained = torch.cat([y for _, y in task.train_batches(12, 1)])
    assert sorted(trained.tolist()) == sorted(task.train_labels.tolist())
    views = ViewBatch(*next(iter(task.view_batches(12, 1))))
    assert torch.equal(views.label, task.train_labels[views.index])
    assert torch.equal(views.true_label, task.true_labels[views.index])
    scored = torch.cat([LabelledBatch(*b).label for b in task.labelled_batches("train", 12)])
    assert torch.equal(scored, task.true_labels)


def test_a_labelled_list_names_the_images_whose_labels_methods_may_use(fake_root, tmp_path):
    listed = tmp_path / "10percent.txt"
    listed.write_text("0.png\n3.png\n")  # two of each class's four
    task = _prepared(fake_root, labelled_list=str(listed))
    assert int(task.labelled.sum()) == 6
    views = ViewBatch(*next(iter(task.view_batches(12, 1))))
    assert int((views.label == -1).sum()) == 6
    assert set(views.label[task.labelled[views.index]].tolist()) == {0, 1, 2}
    assert sum(len(LabelledBatch(*b).index) for b in task.labelled_batches("train", 4)) == 6
    assert sum(len(y) for _, y in task.train_batches(6, 1)) == 6
    fraction = _prepared(fake_root, labelled_fraction=0.25)
    assert [int(fraction.labelled[fraction.true_labels == c].sum()) for c in range(3)] == [1, 1, 1]
    listed.write_text("nothing.png\n")
    with pytest.raises(UcdbenchError, match="no training image is named"):
        _prepared(fake_root, labelled_list=str(listed))


@pytest.mark.ucdbench_e2e
def test_cmsf_trains_on_imagenet_views_and_is_scored_by_knn_and_linear_probe(fake_root, tmp_path):
    result = run_cli("run", "--method", "cmsf", "--task", "imagenet", "--preset", "smoke",
                     "--set", f"task.root={fake_root}", "--set", "task.image_size=32", "--set", "bank_size=16",
                     results=tmp_path / "results")
    assert result.returncode == 0, result.stderr
    (record_file,) = (tmp_path / "results" / "runs").glob("*.json")
    record = json.loads(record_file.read_text())
    assert record["status"] == "ok"
    assert 0 <= record["method_metrics"]["purity"] <= 100
    assert 0 <= record["evaluations"]["knn"]["nn1_top1"] <= 100
    assert 0 <= record["evaluations"]["linear-probe"]["probe_top1"] <= 100
    assert record["evaluations"]["reconstruction"]["weights_equal"]


def test_a_missing_folder_or_subset_file_is_a_usage_error_before_any_run(tmp_path):
    missing = run_cli("run", "--method", "cmsf", "--task", "imagenet", "--set", f"task.root={tmp_path / 'none'}",
                      results=tmp_path / "results")
    assert missing.returncode == 2 and "is not a folder" in missing.stderr
    for split in ("train", "val"):
        (tmp_path / split).mkdir()
    no_list = run_cli("run", "--method", "cmsf-semi", "--task", "imagenet", "--set", f"task.root={tmp_path}",
                      "--set", f"task.labelled_list={tmp_path / '10percent.txt'}", results=tmp_path / "results")
    assert no_list.returncode == 2 and "is not a file" in no_list.stderr
    assert not (tmp_path / "results" / "runs").exists()
