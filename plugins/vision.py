"""Helpers the ViT-based plugins share: what task they need and the Outcome of a dense model."""

from __future__ import annotations

import torch

from ucdbench.artifacts import dense_artifact, expand_dense
from ucdbench.interfaces import Outcome, Task


def require_vit(task: Task) -> str | None:
    """None when ``task`` is an image task whose base model is a timm ViT, else why not."""
    if getattr(task, "kind", None) != "image-classification":
        return f"needs an image-classification task, {task.name} is {task.kind!r}"
    if task.config.get("model") != "vit":
        return f"needs task.model=vit (a timm VisionTransformer), not {task.config.get('model')!r}"
    return None


def dense_model_outcome(model: torch.nn.Module, metrics: dict[str, float], **extras) -> Outcome:
    """An Outcome whose artifact is the model's whole state dict (nothing is compressed)."""
    return Outcome(model=model, artifact=dense_artifact(model.state_dict()), reconstruct=expand_dense,
                   dense_weights=model.state_dict, metrics=metrics, extras=extras)
