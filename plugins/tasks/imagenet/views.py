"""The ``imagenet`` task's two views of a training image, for representation learning.

The MSF/CMSF pipeline (``TwoCropsTransform`` of weak and strong augmentations in
``data_loader.py:get_train_loader`` of UCDvision/CMSF), at the task's input side, without the
normalisation (the model normalises inside): the weak view is a random resized crop of 20–100%
of the area and a horizontal flip; the strong view adds colour jitter (0.4, 0.4, 0.4, 0.1;
p = 0.8), grayscale (p = 0.2) and a Gaussian blur of radius σ ∈ [0.1, 2] (p = 0.5). Every
random draw comes from torch's generator, seeded per pass and image (``item_draws``), so the
same run seed gives the same views whatever the number of loading processes.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image, ImageFilter

from ucdbench_plugins.tasks.imagenet.data import item_draws

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


class TwoViews:
    """A map-style dataset of ``(position, strong, weak, label, true_label)``: both views of
    each training image (strong first: the query; weak: the target), with the labels methods
    train with and the clean ones. ``seed`` seeds the draws of a pass (set per pass)."""

    def __init__(self, images: Any, size: int, labels: torch.Tensor, true_labels: torch.Tensor) -> None:
        self.images, self.labels, self.true_labels = images, labels, true_labels
        self.strong, self.weak = strong_transform(size), weak_transform(size)
        self.seed: int | None = None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, position: int) -> tuple[int, torch.Tensor, torch.Tensor, int, int]:
        image, _ = self.images[position]
        with item_draws(self.seed, position):
            return (position, self.strong(image), self.weak(image), int(self.labels[position]),
                    int(self.true_labels[position]))
