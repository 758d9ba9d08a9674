"""The training labels of representation-learning tasks: symmetric label noise (CMSF's
noisy-label setting) and a stratified labelled fraction (its semi-supervised setting), the same
for every task that offers them (the embedded image tasks and ``imagenet``)."""

from __future__ import annotations

import numpy as np
import torch

from ucdbench.api import Setting


def label_settings() -> dict[str, Setting]:
    """The settings of a task's training labels: ``label_noise`` and ``labelled_fraction``."""
    return {
        "label_noise": Setting(0.0, "share of training labels replaced by another class at random, drawn from the "
                                    "run's seed (CMSF's noisy-label setting: 0.25, 0.5); methods train with these, "
                                    "evaluations score with the clean ones", minimum=0, maximum=0.95),
        "labelled_fraction": Setting(1.0, "share of each class's training images whose labels methods may use "
                                          "(the semi-supervised setting; a fixed stratified draw); the rest are "
                                          "unlabelled", minimum=0, exclusive_minimum=True, maximum=1),
    }


def noisy_labels(labels: torch.Tensor, num_classes: int, share: float, seed: int) -> torch.Tensor:
    """``labels`` with round(share · N) of them, chosen at random, replaced by a different class
    drawn uniformly: symmetric label noise, drawn from ``seed`` (fixed per run seed)."""
    generator = torch.Generator().manual_seed(10_007 * seed + 17)
    noisy = labels.clone()
    flipped = torch.randperm(len(labels), generator=generator)[:round(share * len(labels))]
    shift = torch.randint(1, num_classes, (len(flipped),), generator=generator)
    noisy[flipped] = (labels[flipped] + shift) % num_classes
    return noisy


def labelled_mask(labels: torch.Tensor, fraction: float, split_seed: int) -> torch.Tensor:
    """A stratified ``fraction`` of each class (at least one image), fixed by ``split_seed``:
    the images whose labels a semi-supervised method may use."""
    mask = torch.zeros(len(labels), dtype=torch.bool)
    if fraction >= 1.0:
        return mask.logical_not_()
    rng = np.random.default_rng(split_seed + 1)
    for label in labels.unique().tolist():
        members = np.flatnonzero(labels.numpy() == label)
        chosen = rng.choice(members, max(1, int(round(len(members) * fraction))), replace=False)
        mask[torch.from_numpy(chosen)] = True
    return mask
