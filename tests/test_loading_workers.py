"""The local-dataset tasks' training batches do not depend on ``task.workers`` or on what drew
from the global generators before: each image's augmentation is seeded from the run's seed, the
pass and the image, for every generator a transform draws from (timm's training transforms
draw from Python's ``random``)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from test_task_imagenet import make_task, write_image_folder


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "imagenet"
    write_image_folder(root, {"train": 4, "val": 1})
    return root


def _batches(root, workers: int, outside_seed: int) -> list[torch.Tensor]:
    """Two passes of the training batches and one of the two views, with the global generators
    of the calling process seeded with ``outside_seed`` first."""
    task = make_task(root, workers=workers)
    task.prepare()
    random.seed(outside_seed)
    np.random.seed(outside_seed)
    torch.manual_seed(outside_seed)
    tensors = [t for x, y in task.train_batches(batch_size=5, epochs=2) for t in (x, y)]
    views = next(iter(task.view_batches(batch_size=6, epochs=1)))
    return [*tensors, views.strong, views.weak, views.index]


def test_the_batches_are_the_same_whatever_the_workers_and_the_global_generators(image_root):
    alone = _batches(image_root, workers=0, outside_seed=0)
    assert len(alone) == 2 * 5 + 3  # 12 images, batches of 5, 2 epochs: round(24 / 5) = 5 batches (x and y each)
    for other in (_batches(image_root, workers=0, outside_seed=1), _batches(image_root, workers=2, outside_seed=0)):
        assert len(other) == len(alone)
        for mine, theirs in zip(alone, other):
            assert torch.equal(mine, theirs)

