"""What the ViT-based plugins need of a task.

A task's base model is either the timm network itself (the ``images`` tasks) or a wrapper
around it (the local-dataset tasks normalise inputs inside the model and keep the classifier
apart). A task that wraps its network exposes two accessors, which this module uses:

- ``network_sketch()``: the timm network, untrained on the meta device, buildable before the
  task is prepared — what :func:`require_vit` asks whether it is a ViT;
- ``network_parts(model)``: (the timm network with its classifier as ``.head``, the module that
  prepares its inputs) of a model its ``base_model`` built — what :func:`vit_parts` returns.
"""

from __future__ import annotations

from torch import nn

from ucdbench.api import ImageClassification, UcdbenchError


def is_vit(network: nn.Module) -> bool:
    """Whether ``network`` is a timm VisionTransformer with a class token."""
    from timm.models.vision_transformer import VisionTransformer

    return isinstance(network, VisionTransformer) and getattr(network, "cls_token", None) is not None


def require_vit(task: ImageClassification) -> str | None:
    """None when the image task's base model is a timm VisionTransformer with a class token,
    else why not (for ``Method.unsupported_reason``; the capability itself is in ``requires``)."""
    sketch = getattr(task, "network_sketch", None)
    if sketch is None:  # the task's base model is the network: its architecture names it
        if task.architecture != "vit":
            return f"needs a timm ViT base (task.model=vit), not {task.architecture!r}"
        return None
    try:
        network = sketch()
    except UcdbenchError as exc:
        return str(exc)
    if not is_vit(network):
        return (f"needs a timm VisionTransformer with a class token as the base, and task.model="
                f"{task.architecture!r} is a {type(network).__name__}; set task.model to one "
                "(e.g. deit_tiny_patch16_224)")
    return None


def vit_parts(task: ImageClassification, model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """(the timm ViT, the module its inputs go through first) of a base model ``task`` built:
    through the task's ``network_parts`` where it wraps the network, else the model itself
    and no input step. The parts share the model's modules: use them instead of it."""
    parts = getattr(task, "network_parts", None)
    return parts(model) if parts is not None else (model, nn.Identity())


def network_sketch(task: ImageClassification) -> nn.Module | None:
    """The task's network on the meta device (no memory, no data), where the task can build it
    before it is prepared (its ``network_sketch()``); else None."""
    sketch = getattr(task, "network_sketch", None)
    return sketch() if sketch is not None else None
