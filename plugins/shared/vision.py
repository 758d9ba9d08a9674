"""What the ViT-based plugins need of a task."""

from __future__ import annotations

from ucdbench.api import ImageClassification


def require_vit(task: ImageClassification) -> str | None:
    """None when the image task's base model is a timm VisionTransformer with a class token,
    else why not (for ``Method.unsupported_reason``; the capability itself is in ``requires``)."""
    if task.architecture != "vit":
        return f"needs a timm ViT base (task.model=vit), not {task.architecture!r}"
    return None
