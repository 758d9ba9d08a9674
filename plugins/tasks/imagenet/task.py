"""The ``imagenet`` task: a user's local ImageNet (or any ImageFolder, or a saved ``datasets``
copy) with a timm model; the machinery is :mod:`ucdbench_plugins.shared.local_images`'s."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ucdbench.api import Setting
from ucdbench_plugins.shared.local_images.folders import IMAGE_LAYOUT, is_saved_dataset, open_splits
from ucdbench_plugins.shared.local_images.task import LocalImageClassification, local_settings


class ImageNet(LocalImageClassification):
    name: ClassVar[str] = "imagenet"
    env: ClassVar[str] = "UCDBENCH_IMAGENET"
    layout: ClassVar[str] = IMAGE_LAYOUT
    settings: ClassVar[dict[str, Setting]] = local_settings(
        "the ImageNet folder (ImageFolder or a saved `datasets` copy); '' reads $UCDBENCH_IMAGENET")

    def open_splits(self, root: Path) -> tuple[Any, Any, list[str]]:
        return open_splits(root)

    def has_splits(self, root: Path) -> bool:
        return is_saved_dataset(root) or super().has_splits(root)
