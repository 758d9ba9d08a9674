"""GeNIe, GeNIe-Ada and their generative baselines, as augmentations of an episode's support set.

Which source images each one edits, and how many, follows the official ``genie.py``
(``main_worker``): GeNIe edits every support image of the *other* classes once towards each
target class (prompt "a photo of a {target}"), labelled as the target — hard negatives for the
source class; img2img and txt2img edit each image of the target class itself ``n_way - 1``
times, so all three add the same n_way · (n_way − 1) · K images. txt2img is img2img at r = 1
(pure noise: the source is not used).

GeNIe-Ada follows ``few_shot/noise_adaptive.ipynb`` (cell "Noise Adaptive Selection"): each
source is edited at every r of ``ratios`` (0.5 … 0.9); the edits are embedded with the
backbone and L2-normalised, as the source images are (the cell "Making metadata file": ``f =
f/f.norm(dim=-1, keepdim=True)`` for both), projected on the direction from the source's
embedding to the target class's prototype (the mean of its support images' normalised
embeddings), and the r right after the largest jump between consecutive projections is kept
(:func:`adaptive_ratio_index`).

What an edit adds is then seen as the task sees support images: one view of it
(:attr:`Support.view`), as ``few_shot/evaluate_v4.py`` loads the generated images with the
support transform (``ImageFolder(..., augs_name, transform=transform)``), once.
"""

from __future__ import annotations

from typing import Any

import torch

from ucdbench_plugins.shared.fewshot.augmentation import Augmentation, Augmented, Embed, Support
from ucdbench_plugins.shared.fewshot.diffusion import DiffusionEditor

GENIE_ADA_RATIOS = (0.5, 0.6, 0.7, 0.8, 0.9)
"""The noise ratios GeNIe-Ada chooses from (``noise_adaptive.ipynb``: ``n``)."""


def unit(features: torch.Tensor) -> torch.Tensor:
    """Each row divided by its L2 norm (``noise_adaptive.ipynb``'s ``f/f.norm(dim=-1, keepdim=True)``)."""
    return features / features.norm(dim=-1, keepdim=True)


def hard_negative_pairs(support: Support) -> tuple[torch.Tensor, torch.Tensor]:
    """GeNIe's sources and target labels: for each label, every support image of the others."""
    sources, targets = [], []
    for label in range(support.n_way):
        others = support.images[support.labels != label]
        sources.append(others)
        targets.append(torch.full((len(others),), label, dtype=torch.long))
    return torch.cat(sources), torch.cat(targets)


def same_class_pairs(support: Support) -> tuple[torch.Tensor, torch.Tensor]:
    """img2img's sources and labels: each image of a label, ``n_way - 1`` times, as that label."""
    sources, targets = [], []
    for label in range(support.n_way):
        own = support.of_label(label).repeat_interleave(support.n_way - 1, dim=0)
        sources.append(own)
        targets.append(torch.full((len(own),), label, dtype=torch.long))
    return torch.cat(sources), torch.cat(targets)


def adaptive_ratio_index(edits: torch.Tensor, source: torch.Tensor, prototype: torch.Tensor) -> int:
    """GeNIe-Ada's choice among edits at increasing ratios (embeddings ``edits`` (R, D)): the
    index right after the largest jump of their projections on ``prototype - source``.

    The jump between consecutive edits is the norm of the difference of their projections on
    the direction, |⟨e_{i+1} − e_i, v⟩| / ‖v‖ (``noise_adaptive.ipynb``); the first of two equal
    jumps wins, as ``argmax`` does there.
    """
    direction = prototype - source
    coordinates = edits @ direction / direction.dot(direction)
    jumps = (coordinates[1:] - coordinates[:-1]).abs() * direction.norm()
    return int(jumps.argmax()) + 1


class Edit(Augmentation):
    """Edit chosen sources towards chosen labels at a noise ratio, with the task's generator."""

    def __init__(self, editor: DiffusionEditor, ratio: float) -> None:
        super().__init__()
        self.editor = editor
        self.ratio = ratio

    def pairs(self, support: Support) -> tuple[torch.Tensor, torch.Tensor]:
        """The source images and the label (0..n_way-1) each is edited towards."""
        return same_class_pairs(support)

    def edit(self, sources: torch.Tensor, labels: torch.Tensor, support: Support, ratio: float,
             generator: torch.Generator) -> torch.Tensor:
        """``sources`` edited at ``ratio`` towards the task classes of ``labels``."""
        return self.editor.edit(sources, support.classes[labels], ratio, generator).to(sources.device)

    def augment(self, support: Support, generator: torch.Generator, embed: Embed) -> Augmented:
        sources, labels = self.pairs(support)
        images = support.view(self.edit(sources, labels, support, self.ratio, generator), generator)
        return Augmented(images, labels, sources, torch.full((len(labels),), self.ratio, dtype=torch.float64))

    def recipe(self) -> dict[str, Any]:
        return {"ratio": self.ratio}


class Img2Img(Edit):
    """Each support image edited towards its own class at ratio r (the ``img2img`` baseline)."""


class Txt2Img(Img2Img):
    """Images of each class generated from pure noise (``txt2img``: img2img at r = 1)."""

    def __init__(self, editor: DiffusionEditor) -> None:
        super().__init__(editor, 1.0)


class GeNIe(Edit):
    """Other classes' support images edited towards each class at ratio r: hard negatives."""

    def pairs(self, support: Support) -> tuple[torch.Tensor, torch.Tensor]:
        return hard_negative_pairs(support)


class GeNIeAda(GeNIe):
    """GeNIe with r chosen per source image among ``ratios`` (:func:`adaptive_ratio_index`)."""

    def __init__(self, editor: DiffusionEditor, ratios: tuple[float, ...] = GENIE_ADA_RATIOS) -> None:
        super().__init__(editor, ratios[-1])
        self.ratios = tuple(ratios)

    def augment(self, support: Support, generator: torch.Generator, embed: Embed) -> Augmented:
        sources, labels = self.pairs(support)
        edits = torch.stack([self.edit(sources, labels, support, r, generator) for r in self.ratios])  # (R, N, ...)
        features = unit(embed(edits.flatten(0, 1))).unflatten(0, edits.shape[:2])  # (R, N, D)
        source_features = unit(embed(sources))
        prototypes = torch.stack([unit(embed(support.of_label(label))).mean(0) for label in range(support.n_way)])
        chosen = torch.tensor([adaptive_ratio_index(features[:, i], source_features[i], prototypes[labels[i]])
                               for i in range(len(labels))], dtype=torch.long)
        images = support.view(edits[chosen, torch.arange(len(labels))], generator)
        return Augmented(images, labels, sources, torch.tensor(self.ratios, dtype=torch.float64)[chosen])

    def recipe(self) -> dict[str, Any]:
        return {"ratios": list(self.ratios)}
