"""The few-shot task's backbone: images → features, pretrained with labels on the base classes.

The paper's backbones are ResNets pretrained on the base classes of mini-/tiered-ImageNet
(self-supervised, UniSiam); here the backbone is pretrained in-suite and supervised (a linear
head on the base classes, discarded afterwards), which the few-shot protocol allows: it never
sees a novel class.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ucdbench.api import cached_tensors, progress_bar
from ucdbench_plugins.shared.conv import conv_features
from ucdbench_plugins.tasks.fewshot.data import FewShotData

BACKBONES = ("cnn", "resnet18")


class ConvBackbone(nn.Module):
    """Conv-BN-ReLU stages (stride 2 after the first), global average pooling: (B, width · 2^(depth-1))."""

    def __init__(self, in_chans: int, width: int, depth: int) -> None:
        super().__init__()
        self.features, self.dim = conv_features(in_chans, width, depth)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)


class ResNetBackbone(nn.Module):
    """timm's ResNet-18 without its classifier, on ImageNet-normalised inputs."""

    def __init__(self, in_chans: int) -> None:
        super().__init__()
        import timm

        self.net = timm.create_model("resnet18", pretrained=False, num_classes=0, in_chans=in_chans)
        self.dim = self.net.num_features
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406][:in_chans]).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225][:in_chans]).view(1, -1, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net((images - self.mean) / self.std)


def build_backbone(kind: str, in_chans: int, width: int, depth: int) -> nn.Module:
    if kind == "cnn":
        return ConvBackbone(in_chans, width, depth)
    if kind == "resnet18":
        return ResNetBackbone(in_chans)
    raise ValueError(f"unknown backbone {kind!r}; choose one of {', '.join(BACKBONES)}")


PRETRAINING_KEYS = ("dataset", "folder", "base_classes", "image_size", "backbone", "width", "depth",
                    "pretrain_epochs", "pretrain_lr", "pretrain_batch_size")
"""The task settings the pretrained backbone depends on (its cache key, with the device type)."""


def pretrained_state(config: dict[str, Any], data: FewShotData, in_chans: int,
                     device: torch.device) -> dict[str, torch.Tensor]:
    """The backbone's state after supervised pretraining on ``device`` on the base classes only
    (a linear head on them, dropped afterwards; AdamW, fixed seed), cached by configuration,
    device type (a GPU's float reductions differ from a CPU's, so its weights do) and code."""

    def pretrain() -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        backbone = build_backbone(config["backbone"], in_chans, config["width"], config["depth"]).to(device)
        base = torch.as_tensor(data.base_classes)
        members = torch.nonzero(torch.isin(data.labels, base)).flatten()
        labels = torch.searchsorted(base.sort().values, data.labels[members])
        batch_size = config["pretrain_batch_size"]
        generator = torch.Generator().manual_seed(0)
        head = nn.Linear(backbone.dim, len(base)).to(device)
        optimizer = torch.optim.AdamW([*backbone.parameters(), *head.parameters()], lr=config["pretrain_lr"],
                                      weight_decay=0.05)
        steps = config["pretrain_epochs"] * max(1, len(labels) // batch_size)
        backbone.train()
        for _ in progress_bar(range(steps), desc="pretrain the few-shot backbone on the base classes", total=steps):
            idx = torch.randint(len(labels), (batch_size,), generator=generator)
            images = data.images[members[idx]].to(device)
            loss = F.cross_entropy(head(backbone(images)), labels[idx].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return backbone.state_dict()

    key = {name: config[name] for name in PRETRAINING_KEYS} | {"in_chans": in_chans, "device": device.type}
    return cached_tensors("pretrained/fewshot", key, pretrain)
