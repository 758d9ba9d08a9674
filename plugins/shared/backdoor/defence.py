"""The test-time blocking defence: black out the box a saliency map points at, re-classify.

As the official ``test_time_defense.py`` does it: the map is summed over a window of side
``s + 1`` (its ``filter`` of ones, ``edge_length + 1``, convolved with padding ``s // 2``),
where ``s`` is the trigger's side (``edge_length = 30`` there, the configured patch size); the
first arg-max of those sums is the centre; the blocked box is the ``s × s`` square from
``centre − s // 2``, shifted inside the image where it would cross an edge; its pixels are set
to 0 (black) in [0, 1] image space and the blocked image is classified again. For an odd ``s``
(the official one is even) the window and box start at ``centre − s // 2`` too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ucdbench_plugins.shared.backdoor.saliency import saliency_maps


def box_sums(maps: torch.Tensor, side: int) -> torch.Tensor:
    """(B, H, W): the sum of each map over the (side + 1)-wide window starting side // 2 above
    and to the left of each pixel (zero outside the image)."""
    before, after = side // 2, side - side // 2
    padded = F.pad(maps[:, None], (before, after, before, after))
    return F.conv2d(padded, torch.ones(1, 1, side + 1, side + 1, device=maps.device, dtype=maps.dtype))[:, 0]


def blocking_boxes(maps: torch.Tensor, side: int) -> torch.Tensor:
    """(B, 4) boxes (top, left, bottom, right; exclusive) of side ``side`` around the first
    arg-max of :func:`box_sums`, kept inside the image."""
    sums = box_sums(maps, side)
    height, width = maps.shape[-2:]
    flat = sums.flatten(1).argmax(dim=1)
    rows, cols = flat // width, flat % width
    top = (rows - side // 2).clamp(0, height - side)
    left = (cols - side // 2).clamp(0, width - side)
    return torch.stack([top, left, top + side, left + side], dim=1)


def black_out(images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """``images`` with each image's box set to 0."""
    out = images.clone()
    for i, (top, left, bottom, right) in enumerate(boxes.tolist()):
        out[i, :, top:bottom, left:right] = 0.0
    return out


def boxes_overlap(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,) whether each pair of boxes shares at least one pixel."""
    return (torch.minimum(a[:, 2], b[:, 2]) > torch.maximum(a[:, 0], b[:, 0])) & \
           (torch.minimum(a[:, 3], b[:, 3]) > torch.maximum(a[:, 1], b[:, 1]))


@dataclass(frozen=True)
class Defended:
    """A defence's output for a batch: the images the model then sees, the boxes it removed and
    the saliency maps it chose them by."""

    images: torch.Tensor
    boxes: torch.Tensor
    maps: torch.Tensor


@dataclass(frozen=True)
class BlockDefence:
    """Map (rollout on a ViT, GradCAM otherwise) → box of the trigger's side → black it out."""

    discard_ratio: float = 0.9

    def __call__(self, model: nn.Module, images: torch.Tensor, side: int) -> Defended:
        maps = saliency_maps(model, images, self.discard_ratio)
        boxes = blocking_boxes(maps, side)
        return Defended(black_out(images, boxes), boxes, maps)


INPUT_DEFENCES = {"block": BlockDefence}
"""The input defences a targeted attack can be measured against, by the name its setting takes."""
