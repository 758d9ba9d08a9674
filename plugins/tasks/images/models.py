"""Base models of the image tasks: a small timm ViT, a small CNN and an MLP.

Every model exposes its classifier as ``.head`` (an nn.Linear), so tasks can re-initialise it
for held-out classes and methods can keep it dense. Inputs are images in [0, 1].
"""

from __future__ import annotations

from typing import Any

import timm.models.vision_transformer as timm_vit
import torch
from torch import nn

from ucdbench_plugins.shared.conv import conv_features

MODELS = ("vit", "cnn", "mlp")


class SmallCNN(nn.Module):
    """Conv-BN-ReLU stages with stride-2 downsampling, global pooling, linear head."""

    def __init__(self, in_chans: int, num_classes: int, width: int, depth: int) -> None:
        super().__init__()
        self.features, channels = conv_features(in_chans, width, depth)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class MLP(nn.Module):
    """Flatten → (Linear → ReLU) × depth → Linear head: the MCNC/PRANC MNIST ablation network."""

    def __init__(self, in_features: int, num_classes: int, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        features = in_features
        for _ in range(depth):
            layers += [nn.Linear(features, width), nn.ReLU(inplace=True)]
            features = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_image_model(config: dict[str, Any], image_size: int, in_chans: int, num_classes: int) -> nn.Module:
    """The model named by ``config["model"]`` with the task's sizes."""
    kind, width, depth = config["model"], config["width"], config["depth"]
    if kind == "vit":
        return timm_vit.VisionTransformer(
            img_size=image_size, patch_size=config["patch_size"], in_chans=in_chans,
            num_classes=num_classes, embed_dim=width, depth=depth, num_heads=config["heads"],
            mlp_ratio=2.0, class_token=True, global_pool="token",
        )
    if kind == "cnn":
        return SmallCNN(in_chans, num_classes, width, depth)
    if kind == "mlp":
        return MLP(in_chans * image_size * image_size, num_classes, width, depth)
    raise ValueError(f"unknown model {kind!r}; choose one of {', '.join(MODELS)}")
