"""Helpers the ViT-based plugins share: what task they need and the Outcome of a dense model."""

from __future__ import annotations

import torch

from ucdbench.interfaces import Artifact, Outcome, Task


def require_vit(task: Task) -> str | None:
    """None when ``task`` is an image task whose base model is a timm ViT, else why not."""
    if getattr(task, "kind", None) != "image-classification":
        return f"needs an image-classification task, {task.name} is {task.kind!r}"
    if task.config.get("model") != "vit":
        return f"needs task.model=vit (a timm VisionTransformer), not {task.config.get('model')!r}"
    return None


def dense_model_outcome(model: torch.nn.Module, metrics: dict[str, float], **extras) -> Outcome:
    """An Outcome whose artifact is the model's whole state dict (nothing is compressed)."""
    state = {name: t.detach().clone() for name, t in model.state_dict().items()}
    return Outcome(
        model=model,
        artifact=Artifact(tensors=state, dense=tuple(state)),
        reconstruct=lambda artifact, device: {k: t.to(device) for k, t in artifact.tensors.items()},
        dense_weights=lambda: {k: t.detach() for k, t in model.state_dict().items()},
        metrics=metrics,
        extras=extras,
    )
