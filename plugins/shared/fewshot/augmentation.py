"""The one interface every few-shot augmentation implements, and the model a few-shot task scores.

An :class:`Augmentation` receives an episode's support set (images, labels 0..n_way-1 and the
global class id of each label) and returns extra labelled images; the task adds them to the
support set before fitting its per-episode classifier. GeNIe, its generative baselines and
MixUp / CutMix are each one subclass, so a later generator or augmentation is one more.
:class:`FewShotLearner` is what a few-shot method hands the harness: the task's frozen backbone
plus an augmentation (and the generator it uses, as a submodule, so it moves to the run's device
and belongs to the scored state that reconstruction compares).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

Embed = Callable[[torch.Tensor], torch.Tensor]
"""Images (B, C, H, W) in [0, 1] → features (B, D)."""

View = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
"""The task's transform of support images before they are embedded (images, generator) →
images, drawing from the generator: a random weak view, or none."""


def unchanged(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The :data:`View` of a task that embeds support images as they are."""
    return images


@dataclass(frozen=True)
class Support:
    """An episode's support set: ``images`` (N, C, H, W) in [0, 1], ``labels`` (N,) in
    0..n_way-1, and ``classes`` (n_way,): the task's class id of each label; ``view`` is how the
    task transforms support images before embedding them and ``views`` how many views of each
    shot it embeds (the official ``--transform weak --caching_epochs 5``), so that an
    augmentation hands over images as the task would embed them."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: torch.Tensor
    view: View = unchanged
    views: int = 1

    @property
    def n_way(self) -> int:
        return len(self.classes)

    def of_label(self, label: int) -> torch.Tensor:
        """The support images labelled ``label``."""
        return self.images[self.labels == label]


@dataclass(frozen=True)
class Augmented:
    """Extra labelled images for an episode, to be embedded as they are, and where each came
    from (for sample grids): ``sources`` the image it was made from (zeros for none), ``ratios``
    its noise ratio (NaN where it has none). ``labels`` are (M,) in 0..n_way-1, or (M, n_way)
    class probabilities (soft labels, MixUp's and CutMix's)."""

    images: torch.Tensor
    labels: torch.Tensor
    sources: torch.Tensor
    ratios: torch.Tensor

    @staticmethod
    def empty(like: torch.Tensor) -> Augmented:
        return Augmented(like[:0], torch.zeros(0, dtype=torch.long), like[:0], torch.zeros(0))


class Augmentation(nn.Module, ABC):
    """Support set → extra labelled images. A module, so a generator it holds is part of the
    scored model's state; ``recipe`` is what the method's artifact stores to rebuild it."""

    @abstractmethod
    def augment(self, support: Support, generator: torch.Generator, embed: Embed) -> Augmented:
        """Extra images for ``support``; every random draw comes from ``generator``; ``embed`` is
        the task's frozen backbone (images → features), for augmentations that look at features."""

    def recipe(self) -> dict[str, Any]:
        """The JSON-serialisable settings that rebuild this augmentation (with the task's generator)."""
        return {}

    def generates(self) -> bool:
        """Whether ``augment`` makes new images (its cost is then measured)."""
        return True


class NoAugmentation(Augmentation):
    """The K shots as they are: the ``fewshot-none`` baseline."""

    def augment(self, support: Support, generator: torch.Generator, embed: Embed) -> Augmented:
        return Augmented.empty(support.images)

    def generates(self) -> bool:
        return False


class FewShotLearner(nn.Module):
    """The frozen backbone (``forward``: images → features) and an augmentation of support sets
    (``augment``), the contract of :class:`ucdbench.api.FewShotClassification`."""

    def __init__(self, backbone: nn.Module, augmentation: Augmentation) -> None:
        super().__init__()
        self.backbone = backbone.eval().requires_grad_(False)
        self.augmentation = augmentation.eval().requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images)

    @torch.no_grad()
    def augment(self, images: torch.Tensor, labels: torch.Tensor, classes: torch.Tensor,
                generator: torch.Generator, view: View = unchanged,
                views: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Extra support images for one episode, as the task embeds them (``view``, ``views``:
        :class:`Support`), and their labels: (M,) in 0..n_way-1, or (M, n_way) probabilities."""
        extra = self.augmentation.augment(Support(images, labels, classes, view, views), generator, self.backbone)
        return extra.images, extra.labels

    def train(self, mode: bool = True) -> FewShotLearner:
        """Always in eval mode: nothing of a few-shot learner trains (BatchNorm statistics stay)."""
        return super().train(False)
