"""What a model sees of a video: one RGB frame, or a stack of L optical-flow fields (the two
streams of Simonyan and Zisserman's two-stream networks, whose flow stream stacks L = 10
fields), from a random position for training and views and from the middle for scoring.

A flow stack is a (2L, H, W) tensor in [0, 1], the horizontal and vertical component of each
field in turn (0.5: no motion); its spatial transforms crop every field alike, and a mirrored
stack has its horizontal components negated, as mirrored motion does.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from ucdbench_plugins.shared.local_images.views import CROP_SCALE
from ucdbench_plugins.tasks.video.data import Video

EVAL_CROP = 0.875
"""The centre crop's share of the resized side, timm's default ``crop_pct``."""


class RGBFrame:
    """A video → one of its frames through ``image_transform`` (a transform of PIL images)."""

    def __init__(self, image_transform: Any, random: bool) -> None:
        self.image_transform, self.random = image_transform, random

    def __call__(self, video: Video) -> torch.Tensor:
        count = len(video.rgb)
        index = int(torch.randint(count, (1,))) if self.random else count // 2
        with Image.open(video.rgb[index]) as image:
            return self.image_transform(image.convert("RGB"))


class FlowStack:
    """A video → ``frames`` consecutive flow fields, stacked, through ``spatial`` (a transform
    of tensors); a video with fewer fields repeats its last one."""

    def __init__(self, frames: int, spatial: Any, random: bool) -> None:
        self.frames, self.spatial, self.random = frames, spatial, random

    def __call__(self, video: Video) -> torch.Tensor:
        from torchvision.transforms.functional import pil_to_tensor

        count = len(video.flow)
        starts = max(1, count - self.frames + 1)
        start = int(torch.randint(starts, (1,))) if self.random else starts // 2
        fields = []
        for offset in range(self.frames):
            with Image.open(video.flow[min(start + offset, count - 1)]) as image:
                fields.append(pil_to_tensor(image.convert("RGB"))[:2])
        return self.spatial(torch.cat(fields).float() / 255.0)


class MirrorFlow:
    """With probability ``p``, the stack mirrored left-right with its horizontal components
    negated (u → 1 − u in [0, 1])."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, stack: torch.Tensor) -> torch.Tensor:
        if float(torch.rand(1)) >= self.p:
            return stack
        mirrored = stack.flip(-1)
        mirrored[0::2] = 1.0 - mirrored[0::2]
        return mirrored


def flow_training_spatial(size: int) -> Any:
    """A random resized crop (the views' area range) and a flow-aware mirror."""
    from torchvision import transforms

    return transforms.Compose([transforms.RandomResizedCrop(size, scale=CROP_SCALE, antialias=True), MirrorFlow()])


def flow_eval_spatial(size: int) -> Any:
    """Resize, then the centre crop, as timm's eval transform does for images."""
    from torchvision import transforms

    return transforms.Compose([transforms.Resize(round(size / EVAL_CROP), antialias=True), transforms.CenterCrop(size)])
