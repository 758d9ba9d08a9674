"""What the image tasks give representation learning: augmented views, label noise, the
labelled fraction and the edges modality — and a representation method end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import run_cli
from ucdbench_plugins.tasks.images.datasets import Digits
from ucdbench_plugins.shared.labels import labelled_mask, noisy_labels
from ucdbench_plugins.tasks.images.views import edges, random_resized_crop


def _digits(seed: int = 0, **config) -> Digits:
    task = Digits("smoke", seed, {**Digits.defaults("smoke"), "classes": "0-9", "pretrain_classes": "none", **config})
    task.prepare()
    return task


def test_views_are_two_augmentations_of_the_same_images_drawn_from_the_seed():
    task = _digits()
    first, again, other = (next(iter(_digits(seed).view_batches(16, 1))) for seed in (0, 0, 1))
    assert first.strong.shape == first.weak.shape == (16, 1, 8, 8)
    assert 0 <= float(first.strong.min()) and float(first.strong.max()) <= 1
    assert torch.equal(first.strong, again.strong) and torch.equal(first.weak, again.weak)
    assert not torch.equal(first.strong, first.weak)
    assert not torch.equal(first.index, other.index)
    assert torch.equal(first.true_label, task.train_y[first.index])


def test_crops_stay_within_the_image_and_keep_its_shape():
    x = torch.rand(32, 1, 8, 8)
    cropped = random_resized_crop(x, torch.Generator().manual_seed(0))
    assert cropped.shape == x.shape
    assert float(cropped.min()) >= float(x.min()) - 1e-6 and float(cropped.max()) <= float(x.max()) + 1e-6


def test_label_noise_flips_exactly_its_share_to_other_classes_fixed_per_seed():
    labels = torch.arange(100) % 10
    noisy = noisy_labels(labels, 10, 0.25, seed=0)
    assert int((noisy != labels).sum()) == 25
    assert torch.equal(noisy, noisy_labels(labels, 10, 0.25, seed=0))
    assert not torch.equal(noisy, noisy_labels(labels, 10, 0.25, seed=1))
    assert torch.equal(noisy_labels(labels, 10, 0.0, seed=0), labels)


def test_methods_train_with_noisy_labels_and_scoring_uses_clean_ones():
    task = _digits(label_noise=0.5)
    assert abs(float((task.train_labels != task.train_y).float().mean()) - 0.5) < 0.01
    clean = torch.cat([batch.label for batch in task.labelled_batches("train", 100)])
    assert torch.equal(clean, task.train_y)
    batch = next(iter(task.view_batches(64, 1)))
    assert torch.equal(batch.label, task.train_labels[batch.index])


def test_the_labelled_fraction_is_stratified_and_the_rest_unlabelled():
    labels = torch.arange(200) % 4
    mask = labelled_mask(labels, 0.1, split_seed=0)
    assert [int(mask[labels == c].sum()) for c in range(4)] == [5, 5, 5, 5]
    task = _digits(labelled_fraction=0.1)
    labelled = list(task.labelled_batches("train", 32))
    index = torch.cat([batch.index for batch in labelled])
    clean = torch.cat([batch.label for batch in labelled])
    assert torch.equal(index, task.labelled.nonzero().flatten()) and len(index) < task.num_train
    assert torch.equal(clean, task.train_y[index])
    assert all(torch.equal(batch.images, task.train_x[batch.index]) for batch in labelled)
    batch = next(iter(task.view_batches(task.num_train, 1)))
    assert set(batch.label[~task.labelled[batch.index]].tolist()) == {-1}
    assert sum(len(y) for _, y in task.train_batches(32, 1)) >= len(clean)


def test_edges_are_a_sobel_magnitude_scaled_per_image():
    image = np.zeros((1, 1, 5, 5), dtype=np.float32)
    image[0, 0, :, 3:] = 1.0  # a vertical step
    edge = edges(image)[0, 0]
    assert edge.max() == 1.0 and edge[:, 0].max() == 0.0
    assert (edge[:, 2] > 0).all() and (edge[:, 3] > 0).all()


@pytest.mark.ucdbench_e2e
def test_cmsf_end_to_end_reports_purity_and_the_representation_figures(tmp_path):
    result = run_cli("run", "--method", "cmsf", "--preset", "smoke", "--set", "task.model=cnn",
                     "--set", "constraint=km", results=tmp_path)
    assert result.returncode == 0, result.stderr
    (record_file,) = (tmp_path / "runs").glob("*.json")
    record = json.loads(record_file.read_text())
    assert 0 <= record["method_metrics"]["purity"] <= 100 and "purity_unconstrained" in record["method_metrics"]
    assert set(record["evaluations"]["knn"]) >= {"nn1_top1", "nn20_top1"}
    assert "probe_top1" in record["evaluations"]["linear-probe"]
    assert record["evaluations"]["reconstruction"]["weights_equal"]
