"""What the image tasks give representation learning: two augmented views per image and a second
modality of each image (label noise and the labelled fraction: :mod:`ucdbench_plugins.shared.labels`).

Augmentations follow the papers' pipeline (MSF/CMSF ``TwoCropsTransform``, weak/strong, in
``self_supervised/train_msf_2q.py:get_train_loader`` of UCDvision/CMSF) as far as grey digits
allow: the weak view is a random resized crop; the strong view adds intensity jitter
(brightness and contrast, p = 0.8, in place of colour jitter and grayscale, which grey images
do not have) and a blur (p = 0.5). No horizontal flip: a mirrored digit is another glyph. The
crop keeps 35–100% of the area (ImageNet's 20% of a 224-pixel image would leave under 4 of
the 8 pixels of a digits image). Views are drawn batch-wise on tensors from a generator seeded
by the run's seed, so the same seed gives the same views.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

CROP_SCALE = (0.35, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
MODALITIES = ("image", "edges")


def random_resized_crop(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image cropped to a random area share in ``CROP_SCALE`` and aspect ratio in
    ``CROP_RATIO``, resized back to its size (bilinear)."""
    n = x.shape[0]
    area = torch.empty(n).uniform_(*CROP_SCALE, generator=generator)
    log_ratio = torch.empty(n).uniform_(math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]), generator=generator)
    ratio = log_ratio.exp()
    width = (area * ratio).sqrt().clamp(max=1.0)
    height = (area / ratio).sqrt().clamp(max=1.0)
    centre_x = (torch.rand(n, generator=generator) * 2 - 1) * (1 - width)
    centre_y = (torch.rand(n, generator=generator) * 2 - 1) * (1 - height)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = width, centre_x
    theta[:, 1, 1], theta[:, 1, 2] = height, centre_y
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _gaussian_blur(x: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    offsets = torch.arange(-1, 2, dtype=x.dtype)
    kernel1d = torch.exp(-offsets**2 / (2 * sigma**2))
    kernel = (kernel1d[:, None] * kernel1d[None, :]) / kernel1d.sum() ** 2
    channels = x.shape[1]
    weight = kernel.expand(channels, 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight, groups=channels)


def weak_view(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return random_resized_crop(x, generator)


def strong_view(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Crop, then brightness and contrast jitter (factors in [0.6, 1.4], p = 0.8), then a blur
    of random strength (a blend with a σ = 1 Gaussian blur, p = 0.5); clamped to [0, 1]."""
    n = x.shape[0]
    x = random_resized_crop(x, generator)
    jitter = torch.rand(n, generator=generator) < 0.8
    brightness = torch.where(jitter, torch.empty(n).uniform_(0.6, 1.4, generator=generator), torch.ones(n))
    contrast = torch.where(jitter, torch.empty(n).uniform_(0.6, 1.4, generator=generator), torch.ones(n))
    x = x * brightness.view(-1, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = mean + (x - mean) * contrast.view(-1, 1, 1, 1)
    blur = (torch.rand(n, generator=generator) < 0.5).float() * torch.rand(n, generator=generator)
    x = x + blur.view(-1, 1, 1, 1) * (_gaussian_blur(x) - x)
    return x.clamp(0.0, 1.0)


def edges(images: np.ndarray) -> np.ndarray:
    """The ``edges`` modality of (N, C, H, W) images in [0, 1]: the Sobel gradient magnitude,
    scaled to [0, 1] per image — a second view type of each instance, derived from it as
    optical flow is from video frames (CMSF's cross-modal setting pairs RGB with flow)."""
    x = torch.from_numpy(images)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    channels = x.shape[1]
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, sobel.expand(channels, 1, 3, 3), groups=channels)
    gy = F.conv2d(padded, sobel.t().expand(channels, 1, 3, 3), groups=channels)
    magnitude = (gx**2 + gy**2).sqrt()
    peak = magnitude.amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-8)
    return (magnitude / peak).numpy().astype(np.float32)
