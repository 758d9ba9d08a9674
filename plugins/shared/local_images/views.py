"""The two views of a training image for representation learning, on PIL images.

The MSF/CMSF pipeline (``TwoCropsTransform`` of weak and strong augmentations in
``data_loader.py:get_train_loader`` of UCDvision/CMSF), at the task's input side, without the
normalisation (the model normalises inside): the weak view is a random resized crop of 20–100%
of the area and a horizontal flip; the strong view adds colour jitter (0.4, 0.4, 0.4, 0.1;
p = 0.8), grayscale (p = 0.2) and a Gaussian blur of radius σ ∈ [0.1, 2] (p = 0.5). Every
random draw comes from torch's generator (seeded per pass and image by
:func:`~ucdbench_plugins.shared.local_images.items.item_draws`).
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image, ImageFilter

CROP_SCALE = (0.2, 1.0)
BLUR_SIGMA = (0.1, 2.0)


class RandomGaussianBlur:
    """A PIL Gaussian blur whose radius is drawn uniformly from ``sigma``."""

    def __init__(self, sigma: tuple[float, float] = BLUR_SIGMA) -> None:
        self.sigma = sigma

    def __call__(self, image: Image.Image) -> Image.Image:
        radius = float(torch.empty(1).uniform_(*self.sigma))
        return image.filter(ImageFilter.GaussianBlur(radius=radius))


def weak_transform(size: int) -> Any:
    from torchvision import transforms

    return transforms.Compose([
        transforms.RandomResizedCrop(size, scale=CROP_SCALE),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
    ])


def strong_transform(size: int) -> Any:
    from torchvision import transforms

    return transforms.Compose([
        transforms.RandomResizedCrop(size, scale=CROP_SCALE),
        transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        transforms.RandomGrayscale(p=0.2),
        transforms.RandomApply([RandomGaussianBlur()], p=0.5),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
    ])
