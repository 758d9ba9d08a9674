"""The weak view of a support image, as the official few-shot evaluation transforms its shots.

``few_shot/train.py`` (UCDvision/GeNIe), ``--transform weak``: ``RandomResizedCrop(size,
scale=(0.2, 1.))`` (torchvision's default aspect ratios 3/4 … 4/3), ``RandomHorizontalFlip()``;
the official command embeds ``--caching_epochs 5`` such views of every shot
(``evaluate_v4.py``: ``for _ in range(caching_epochs)`` over the support loader). Here the crop
is taken from the task's image at its own side and resized back to it, with torchvision's
sampling (ten tries of an area share and a log-uniform ratio that fit, else the central crop
of the nearest allowed ratio), drawn from a generator so that an episode's views follow from
the run's seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CROP_SCALE = (0.2, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
FLIP_PROBABILITY = 0.5


def crop_box(height: int, width: int, generator: torch.Generator) -> tuple[int, int, int, int]:
    """(top, left, crop height, crop width) as ``RandomResizedCrop.get_params`` samples them."""
    area = height * width
    low, high = math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])
    for _ in range(10):
        target = area * float(torch.empty(1).uniform_(*CROP_SCALE, generator=generator))
        ratio = math.exp(float(torch.empty(1).uniform_(low, high, generator=generator)))
        w, h = int(round(math.sqrt(target * ratio))), int(round(math.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
            return top, left, h, w
    if width / height < CROP_RATIO[0]:
        w, h = width, int(round(width / CROP_RATIO[0]))
    elif width / height > CROP_RATIO[1]:
        w, h = int(round(height * CROP_RATIO[1])), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def weak_view(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image (B, C, H, W) randomly cropped and resized back to H × W (bilinear), then
    mirrored left-right with probability 1/2."""
    height, width = images.shape[-2:]
    views = []
    for image in images:
        top, left, h, w = crop_box(height, width, generator)
        crop = image[None, :, top:top + h, left:left + w]
        view = F.interpolate(crop, size=(height, width), mode="bilinear", align_corners=False, antialias=True)[0]
        if float(torch.rand(1, generator=generator)) < FLIP_PROBABILITY:
            view = view.flip(-1)
        views.append(view)
    return torch.stack(views) if views else images[:0]
