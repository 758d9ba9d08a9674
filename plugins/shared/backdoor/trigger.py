"""A patch trigger pasted at a random location, and the targeted attack it serves.

Where the trigger lands follows the official code (``finetune_transformer.py`` and
``test_time_defense.py``, the ``patched`` phase): the top-left corner is drawn uniformly with
``random.randint(0, W - s - 1)`` for each image, so a trigger of side ``s`` never touches the
last row or column, and the generator is re-seeded (``random.seed(1)``) before every batch, so
the i-th image of every batch gets the same location. :class:`TriggerPaste` does the same with
a ``torch.Generator`` seeded by ``location_seed`` on every call: a pure function of the batch.

The official triggers are image files (``data/triggers/trigger_{id}.png``, resized to the patch
side); :func:`trigger_pattern` stands in with a seeded random binary pattern of 4×4 blocks
(pixel blocks when the side is under 4), the same on every machine for the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

EVAL_LOCATION_SEED = 1
"""The official evaluation's ``random.seed(1)`` before every batch of triggered images."""


def trigger_pattern(side: int, channels: int, seed: int) -> torch.Tensor:
    """A (channels, side, side) pattern of 0s and 1s: 4×4 random blocks scaled to ``side``."""
    cells = min(4, side)
    generator = torch.Generator().manual_seed(seed)
    blocks = torch.randint(0, 2, (1, channels, cells, cells), generator=generator).float()
    return F.interpolate(blocks, size=(side, side), mode="nearest")[0]


def trigger_origins(count: int, image_size: int, side: int, seed: int) -> torch.Tensor:
    """(count, 2) rows and columns of the top-left pixel of each image's trigger, each drawn from
    0 … image_size − side − 1 as the official ``random.randint(0, W - s - 1)`` does."""
    if not 0 < side < image_size:
        raise ValueError(f"a trigger of side {side} does not fit a {image_size}-pixel image with a margin")
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, image_size - side, (count, 2), generator=generator)


@dataclass(frozen=True)
class TriggerPaste:
    """Pastes ``pattern`` (C, s, s) over images (B, C, H, W) in [0, 1] at seeded random spots.

    Calling it returns the triggered images (the harness's ``Outcome.input_transform``);
    :meth:`paste` also returns each image's trigger box as (top, left, bottom, right), bottom
    and right exclusive.
    """

    pattern: torch.Tensor
    location_seed: int = EVAL_LOCATION_SEED

    @property
    def side(self) -> int:
        return int(self.pattern.shape[-1])

    def paste(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        origins = trigger_origins(len(images), images.shape[-1], self.side, self.location_seed)
        out = images.clone()
        pattern = self.pattern.to(images.device, images.dtype)
        for i, (top, left) in enumerate(origins.tolist()):
            out[i, :, top:top + self.side, left:left + self.side] = pattern
        boxes = torch.cat([origins, origins + self.side], dim=1)
        return out, boxes

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.paste(images)[0]


@dataclass(frozen=True)
class TargetedAttack:
    """What a targeted trigger attack tells the ``targeted-attack`` evaluation
    (``Outcome.extras["targeted_attack"]``): the class triggered inputs should be sent to, the
    classes whose triggered images count (None: every class but the target, which never
    counts), and the trigger, which also says where it landed on each image."""

    target_class: int
    source_classes: tuple[int, ...] | None
    trigger: TriggerPaste

    def counts(self, labels: torch.Tensor) -> torch.Tensor:
        """Which images (by true label) the attack success rate counts."""
        counted = labels != self.target_class
        if self.source_classes is not None:
            counted &= torch.isin(labels, torch.tensor(self.source_classes, device=labels.device))
        return counted
