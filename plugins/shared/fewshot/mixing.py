"""MixUp and CutMix baselines of the few-shot comparison, on GeNIe's own pairs.

The paper compares GeNIe with MixUp and CutMix but the official repository has no code that
makes them for the few-shot episodes, so this is our reading, chosen so that only the way two
images are combined differs from GeNIe: the same sources (every support image of the other
classes, :func:`hard_negative_pairs`) are each combined with a random support image of the
target class, and labelled as the target. The logistic regression takes hard labels, so the
mixing weight λ ~ Beta(α, α) is folded to max(λ, 1 − λ): the target holds the larger share.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
import torch

from ucdbench_plugins.shared.fewshot.augmentation import Augmentation, Augmented, Embed, Support
from ucdbench_plugins.shared.fewshot.generative import hard_negative_pairs


class Mixing(Augmentation):
    """A target-class image combined with a source of another class, labelled as the target."""

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha

    @abstractmethod
    def combine(self, target: torch.Tensor, source: torch.Tensor, share: float,
                rng: np.random.Generator) -> torch.Tensor:
        """One image: ``target`` keeping ``share`` ≥ 0.5 of it, the rest from ``source``."""

    def augment(self, support: Support, generator: torch.Generator, embed: Embed) -> Augmented:
        sources, labels = hard_negative_pairs(support)
        # torch's Beta sampler takes no generator: numpy's, seeded from the episode's generator
        rng = np.random.default_rng(int(torch.randint(2**31 - 1, (1,), generator=generator)))
        images = []
        for source, label in zip(sources, labels):
            shots = support.of_label(int(label))
            target = shots[int(rng.integers(len(shots)))]
            share = float(rng.beta(self.alpha, self.alpha))
            images.append(self.combine(target, source, max(share, 1.0 - share), rng))
        return Augmented(torch.stack(images) if images else sources[:0], labels, sources,
                         torch.full((len(labels),), float("nan")))

    def recipe(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


class MixUp(Mixing):
    """share · target + (1 − share) · source, pixel by pixel."""

    def combine(self, target: torch.Tensor, source: torch.Tensor, share: float,
                rng: np.random.Generator) -> torch.Tensor:
        return share * target + (1.0 - share) * source


class CutMix(Mixing):
    """The target with a box of about (1 − share) of its area pasted from the source, the box
    centred uniformly and clipped at the border (CutMix's box sampling)."""

    def combine(self, target: torch.Tensor, source: torch.Tensor, share: float,
                rng: np.random.Generator) -> torch.Tensor:
        height, width = target.shape[-2:]
        side = np.sqrt(1.0 - share)
        box_h, box_w = int(round(height * side)), int(round(width * side))
        cy, cx = int(rng.integers(height)), int(rng.integers(width))
        top, bottom = max(cy - box_h // 2, 0), min(cy + box_h - box_h // 2, height)
        left, right = max(cx - box_w // 2, 0), min(cx + box_w - box_w // 2, width)
        mixed = target.clone()
        mixed[..., top:bottom, left:right] = source[..., top:bottom, left:right]
        return mixed
