"""MixUp and CutMix baselines of the few-shot comparison, as the official evaluation makes them.

``few_shot/evaluate_v3.py`` (UCDvision/GeNIe, ``evaluate_fewshot_v3``, run by ``train.py
--mixup 1`` or ``--cutmix 1``): for each of the ``caching_epochs`` rounds (here the task's
views, :attr:`Support.views`), the support set is passed in random order through the support
transform (:attr:`Support.view`) in batches of 16, and each batch draws one λ ~ Beta(0.8, 0.8):

- MixUp pairs two such passes batch by batch (``zip(support_dataloader, support_dataloader)``):
  ``λ · x1 + (1 − λ) · x2``, labelled ``λ · y1 + (1 − λ) · y2``;
- CutMix pastes into each image of the batch the box ``rand_bbox(size, λ)`` of the batch image a
  random permutation puts beside it, labelled ``λ · y + (1 − λ) · y_perm`` (λ is not adjusted
  to the clipped box: that line is commented out there).

The labels are class probabilities (one-hot mixed), so the task scores the episode with the
linear classifier those soft labels need, as ``evaluate_v3.py`` does.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ucdbench_plugins.shared.fewshot.augmentation import Augmentation, Augmented, Embed, Support

MIXING_ALPHA = 0.8
"""α of the Beta(α, α) mixing weight (``evaluate_v3.py``: ``np.random.beta(0.8, 0.8)``)."""
BATCH = 16
"""Images per mixing batch, each with its own λ (the support loader's ``batch_size=16``)."""


def box(height: int, width: int, share: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of ``rand_bbox``: sides ``int(side · √(1 − λ))`` around a
    uniform centre, each end clipped to the image (so a box at the border is smaller)."""
    cut = np.sqrt(1.0 - share)
    cut_h, cut_w = int(height * cut), int(width * cut)
    cy, cx = int(rng.integers(height)), int(rng.integers(width))
    return (int(np.clip(cy - cut_h // 2, 0, height)), int(np.clip(cy + cut_h // 2, 0, height)),
            int(np.clip(cx - cut_w // 2, 0, width)), int(np.clip(cx + cut_w // 2, 0, width)))


class Mixing(Augmentation):
    """Rounds of mixed support images, labelled with the mixed class probabilities."""

    def __init__(self, alpha: float = MIXING_ALPHA) -> None:
        super().__init__()
        self.alpha = alpha

    @abstractmethod
    def round(self, images: torch.Tensor, targets: torch.Tensor, support: Support, generator: torch.Generator,
              rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One round over the support set: (mixed images, their probabilities, the image each started from)."""

    def augment(self, support: Support, generator: torch.Generator, embed: Embed) -> Augmented:
        # torch's Beta sampler takes no generator: numpy's, seeded from the episode's generator
        rng = np.random.default_rng(int(torch.randint(2**31 - 1, (1,), generator=generator)))
        targets = F.one_hot(support.labels, support.n_way).double()
        rounds = [self.round(support.images, targets, support, generator, rng) for _ in range(support.views)]
        images, labels, sources = (torch.cat(parts) for parts in zip(*rounds))
        return Augmented(images, labels, sources, torch.full((len(labels),), float("nan")))

    def recipe(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


class MixUp(Mixing):
    """λ · x1 + (1 − λ) · x2 over two shuffled passes of the support set."""

    def round(self, images: torch.Tensor, targets: torch.Tensor, support: Support, generator: torch.Generator,
              rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        first = torch.randperm(len(images), generator=generator)
        second = torch.randperm(len(images), generator=generator)
        x1, x2 = support.view(images[first], generator), support.view(images[second], generator)
        mixed, labels = [], []
        for start in range(0, len(images), BATCH):
            part = slice(start, start + BATCH)
            share = float(rng.beta(self.alpha, self.alpha))
            mixed.append(share * x1[part] + (1.0 - share) * x2[part])
            labels.append(share * targets[first[part]] + (1.0 - share) * targets[second[part]])
        return torch.cat(mixed), torch.cat(labels), x1


class CutMix(Mixing):
    """A box of another image of the same batch pasted into each image of a shuffled pass."""

    def round(self, images: torch.Tensor, targets: torch.Tensor, support: Support, generator: torch.Generator,
              rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        order = torch.randperm(len(images), generator=generator)
        viewed = support.view(images[order], generator)
        mixed, labels = [], []
        for start in range(0, len(images), BATCH):
            batch, batch_targets = viewed[start:start + BATCH].clone(), targets[order[start:start + BATCH]]
            share = float(rng.beta(self.alpha, self.alpha))
            partner = torch.randperm(len(batch), generator=generator)
            top, bottom, left, right = box(batch.shape[-2], batch.shape[-1], share, rng)
            batch[..., top:bottom, left:right] = batch[partner][..., top:bottom, left:right]
            mixed.append(batch)
            labels.append(share * batch_targets + (1.0 - share) * batch_targets[partner])
        return torch.cat(mixed), torch.cat(labels), viewed
