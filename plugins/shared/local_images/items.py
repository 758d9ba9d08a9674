"""Map-style datasets over a split of (image, label) pairs, for torch's DataLoader: one split
through one transform (:class:`Items`), or through the two views of representation learning
(:class:`TwoViews`). Their random transforms draw from Python's, NumPy's and torch's generators
seeded per pass and item (:func:`item_draws`), so the same run seed gives the same augmentations
whatever the number of loading processes and the order items are loaded in."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


@contextmanager
def item_draws(seed: int | None, position: int) -> Iterator[None]:
    """Within: the random draws of the transforms' augmentations seeded from ``seed`` (one per
    pass) and the image's ``position``, so that an image's augmentation depends neither on the
    loading process nor on the order images are loaded in; unseeded when ``seed`` is None.

    Every generator a transform may draw from is seeded, not torch's alone: timm's training
    transforms (random-resized crop, flip) draw from Python's ``random``, and a user's
    transform may draw from NumPy's, whose states otherwise differ between the main process
    and each loading process (``task.workers``). Their states are restored after."""
    if seed is None:
        yield
        return
    item_seed = seed * 1_000_003 + position
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(item_seed)
            random.seed(item_seed)
            np.random.seed(item_seed % 2**32)
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


class Items:
    """A map-style dataset of ``(position, transform(image), labels[position])`` over the
    ``positions`` of a split of (PIL image, label) pairs: one split read through one transform,
    with the labels a caller chooses (noisy ones, clean ones). Random transforms draw from
    :func:`item_draws` of ``seed``, which the caller sets for each pass."""

    def __init__(self, images: Any, positions: list[int], transform: Any, labels: Any) -> None:
        self.images, self.positions, self.transform, self.labels = images, positions, transform, labels
        self.seed: int | None = None

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, item: int) -> tuple[int, Any, int]:
        position = self.positions[item]
        image, _ = self.images[position]
        with item_draws(self.seed, position):
            return position, self.transform(image), int(self.labels[position])


class TwoViews:
    """A map-style dataset of ``(position, strong, weak, label, true_label)``: both views of
    each training image (strong first: the query; weak: the target), with the labels methods
    train with and the clean ones. ``seed`` seeds the draws of a pass (set per pass)."""

    def __init__(self, images: Any, strong: Any, weak: Any, labels: torch.Tensor, true_labels: torch.Tensor) -> None:
        self.images, self.strong, self.weak, self.labels, self.true_labels = images, strong, weak, labels, true_labels
        self.seed: int | None = None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, position: int) -> tuple[int, torch.Tensor, torch.Tensor, int, int]:
        image, _ = self.images[position]
        with item_draws(self.seed, position):
            return (position, self.strong(image), self.weak(image), int(self.labels[position]),
                    int(self.true_labels[position]))
