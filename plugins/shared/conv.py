"""The convolutional feature extractor the small image models share."""

from __future__ import annotations

from torch import nn


def conv_features(in_chans: int, width: int, depth: int) -> tuple[nn.Sequential, int]:
    """Conv-BN-ReLU stages, ``width · 2^stage`` channels, stride 2 after the first, then global
    average pooling and flattening: the module and the number of features it gives."""
    layers: list[nn.Module] = []
    channels = in_chans
    for stage in range(depth):
        out = width * 2**stage
        layers += [nn.Conv2d(channels, out, 3, stride=1 if stage == 0 else 2, padding=1, bias=False),
                   nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
        channels = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), channels
