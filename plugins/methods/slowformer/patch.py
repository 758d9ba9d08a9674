"""A universal image patch: where it goes, how it is pasted, and the valid-pixel projection.

Images are in [0, 1]; after every optimiser step the patch is clamped to that range and
rounded to the 256 levels of an 8-bit image, so the patch the attack reports is one that could
be printed or saved as a PNG without changing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "center")


def patch_side(image_size: int, area_fraction: float) -> int:
    """Side of the square patch whose area is closest to ``area_fraction`` of the image."""
    if not 0 < area_fraction < 1:
        raise ValueError(f"patch area fraction must be in (0, 1), not {area_fraction}")
    return max(1, min(image_size, round(math.sqrt(area_fraction) * image_size)))


def patch_origin(image_size: int, side: int, position: str) -> tuple[int, int]:
    """Row and column of the patch's top-left pixel."""
    far, mid = image_size - side, (image_size - side) // 2
    origins = {"top-left": (0, 0), "top-right": (0, far), "bottom-left": (far, 0),
               "bottom-right": (far, far), "center": (mid, mid)}
    if position not in origins:
        raise ValueError(f"patch position must be one of {', '.join(POSITIONS)}, not {position!r}")
    return origins[position]


def project_to_pixels(patch: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to 8-bit levels."""
    return torch.round(patch.clamp(0.0, 1.0) * 255.0) / 255.0


class PatchTransform(nn.Module):
    """Pastes ``patch`` (C, s, s) onto every image of a batch (B, C, H, W); differentiable in
    the patch, so the same object serves the optimisation and the harness's input transform."""

    def __init__(self, patch: torch.Tensor, image_size: int, position: str = "top-left") -> None:
        super().__init__()
        side = patch.shape[-1]
        self.patch = nn.Parameter(patch.clone(), requires_grad=patch.requires_grad)
        self.image_size, self.position = image_size, position
        top, left = patch_origin(image_size, side, position)
        self.padding = (left, image_size - left - side, top, image_size - top - side)

    @property
    def side(self) -> int:
        return int(self.patch.shape[-1])

    @property
    def area_fraction(self) -> float:
        return self.side**2 / self.image_size**2

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        patch = self.patch.to(images.device, images.dtype)
        mask = F.pad(torch.ones_like(patch), self.padding)
        return images * (1 - mask) + F.pad(patch, self.padding)

    @torch.no_grad()
    def project_(self) -> None:
        self.patch.copy_(project_to_pixels(self.patch))


def random_patch(in_chans: int, side: int, generator: torch.Generator) -> torch.Tensor:
    """Uniform random 8-bit pixels: the control patch of the same size as the attack's."""
    return project_to_pixels(torch.rand(in_chans, side, side, generator=generator))
