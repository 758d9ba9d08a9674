"""The few-shot task's in-suite generator: a class-conditional diffusion model trained on every
image of every class, cached (keyed by its configuration and this code, which imports only what
training needs, so editing the task or Stable Diffusion's wrapper does not retrain it)."""

from __future__ import annotations

from typing import Any

import torch

from ucdbench.api import UcdbenchError, cached_tensors, progress_bar
from ucdbench_plugins.shared.fewshot.diffusion import ClassConditionalDiffusion, train_class_conditional
from ucdbench_plugins.tasks.fewshot.data import FewShotData

TRAINING_KEYS = ("dataset", "folder", "image_size", "generator_width", "generator_steps", "generator_lr")
"""The task settings the in-suite generator's weights depend on (its cache key)."""


def in_suite_generator(config: dict[str, Any], data: FewShotData, in_chans: int) -> ClassConditionalDiffusion:
    """The trained in-suite generator of the task's ``config``, in eval mode, on CPU."""
    if not isinstance(data.images, torch.Tensor):
        raise UcdbenchError("the in-suite generator trains on embedded datasets only; with task.dataset=folder use "
                            "task.generator=stable-diffusion")
    images = data.images

    def model() -> ClassConditionalDiffusion:
        return ClassConditionalDiffusion(len(data.class_names), config["image_size"], in_chans,
                                         config["generator_width"], config["inference_steps"], config["guidance_scale"])

    def train() -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        fresh = model()
        train_class_conditional(fresh, images, data.labels, steps=config["generator_steps"], batch_size=64,
                                lr=config["generator_lr"], seed=0, progress=progress_bar)
        return fresh.state_dict()

    key = {name: config[name] for name in TRAINING_KEYS} | {"in_chans": in_chans, "classes": len(data.class_names)}
    generator = model()
    generator.load_state_dict(cached_tensors("generators/fewshot", key, train))
    return generator.eval()
