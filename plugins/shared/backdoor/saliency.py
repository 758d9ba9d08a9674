"""Where a classifier looks for its predicted class: gradient-weighted attention rollout on a
ViT, GradCAM on a CNN. Both return maps (B, H, W) at the image's resolution, each scaled so
its largest value is 1, for the class each image is predicted as (the official defence maps the
top prediction: ``test_time_defense.py`` takes ``class_idx`` from the model's own output).

Rollout follows the official ``vit_grad_rollout.py`` (``grad_rollout`` and
``VITAttentionGradRollout``), which the paper only names, in every detail that changes the map:

- per layer, attention × its gradient, averaged over heads, negatives set to 0;
- the lowest ``discard_ratio`` (0.9) of the N × N entries set to 0, class-token entries
  included (the line sparing them is commented out);
- ``a = (A + I) / 2`` and then ``a / a.sum(dim=-1)``, which broadcasts so that entry (i, j)
  is divided by the sum of row **j** (not row i);
- the gradients are collected by backward hooks, so they arrive last layer first, and are
  zipped with the attentions in forward order: layer l's attention is weighted by the
  gradient of layer L − 1 − l's;
- the rollout is the product of the layers' matrices, first layer rightmost; the map is the
  class token's row over the patches, scaled to a maximum of 1, then resized to the image
  bilinearly (``cv2.resize``'s default, which ``F.interpolate(align_corners=False)`` matches).

GradCAM (Selvaraju et al.; the official repository has no CNN map): the last feature map the
network computes that is larger than 1 × 1 (the last convolutional stage's output), weighted
per channel by the spatial mean of the class score's gradient, summed, negatives set to 0,
resized and scaled alike.
"""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer
from torch import nn


def rollout(attentions: list[torch.Tensor], gradients: list[torch.Tensor], discard_ratio: float) -> torch.Tensor:
    """The official gradient-weighted rollout of (B, heads, N, N) attentions and the gradients
    as the official hooks list them (last layer first): (B, N − 1), the class token's row."""
    batch, tokens = attentions[0].shape[0], attentions[0].shape[-1]
    eye = torch.eye(tokens, device=attentions[0].device).expand(batch, tokens, tokens)
    result = eye
    for attention, gradient in zip(attentions, gradients):
        fused = (attention * gradient).mean(dim=1).clamp(min=0)
        flat = fused.reshape(batch, -1)
        lowest = flat.topk(int(flat.shape[-1] * discard_ratio), dim=-1, largest=False).indices
        fused = flat.scatter(-1, lowest, 0.0).view(batch, tokens, tokens)
        a = (fused + eye) / 2
        a = a / a.sum(dim=-1)[:, None, :]
        result = a @ result
    return result[:, 0, 1:]


def _scaled_to_image(maps: torch.Tensor, image_size: int) -> torch.Tensor:
    """(B, h, w) → (B, image_size, image_size), each map divided by its maximum (bilinear)."""
    maps = maps / maps.amax(dim=(1, 2), keepdim=True).clamp(min=1e-12)
    return F.interpolate(maps[:, None], size=(image_size, image_size), mode="bilinear", align_corners=False)[:, 0]


def _predicted_score(logits: torch.Tensor) -> torch.Tensor:
    """Sum over the batch of each image's logit for its own predicted class."""
    return logits.gather(1, logits.argmax(dim=1, keepdim=True)).sum()


@contextmanager
def _attention_probabilities(vit: VisionTransformer) -> Iterator[list[torch.Tensor]]:
    """Within the block, every attention layer computes its softmax explicitly (not fused) and
    the attention probabilities of each forward pass are appended, in layer order, to the list
    yielded."""
    captured: list[torch.Tensor] = []
    layers = [m for m in vit.modules() if hasattr(m, "fused_attn") and isinstance(getattr(m, "attn_drop", None), nn.Dropout)]
    fused = [layer.fused_attn for layer in layers]
    handles = [layer.attn_drop.register_forward_hook(lambda _m, _i, out: captured.append(out)) for layer in layers]
    try:
        for layer in layers:
            layer.fused_attn = False
        yield captured
    finally:
        for layer, was in zip(layers, fused):
            layer.fused_attn = was
        for handle in handles:
            handle.remove()


def vit_rollout_maps(model: nn.Module, vit: VisionTransformer, images: torch.Tensor, discard_ratio: float) -> torch.Tensor:
    """Gradient-weighted rollout maps of ``model`` (whose transformer is ``vit``) on ``images``."""
    if vit.num_prefix_tokens != 1:
        raise ValueError(f"rollout reads the class token's row; this ViT has {vit.num_prefix_tokens} prefix tokens")
    with torch.enable_grad(), _attention_probabilities(vit) as attentions:
        logits = model(images.detach().requires_grad_(True))
        gradients = torch.autograd.grad(_predicted_score(logits), attentions)
    patches = rollout([a.detach() for a in attentions], [g.detach() for g in reversed(gradients)], discard_ratio)
    rows, cols = vit.patch_embed.grid_size
    return _scaled_to_image(patches.view(-1, rows, cols), images.shape[-1])


def gradcam_maps(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """GradCAM maps of ``model`` on ``images`` at its last feature map larger than 1 × 1."""
    feature_maps: list[torch.Tensor] = []

    def keep(_module: nn.Module, _inputs: object, output: object) -> None:
        if isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[-1] * output.shape[-2] > 1:
            feature_maps.append(output)

    handles = [m.register_forward_hook(keep) for m in model.modules() if not list(m.children())]
    try:
        with torch.enable_grad():
            logits = model(images.detach().requires_grad_(True))
            if not feature_maps:
                raise ValueError("GradCAM needs a convolutional feature map larger than 1 × 1; this model computes none")
            features = feature_maps[-1]
            (gradient,) = torch.autograd.grad(_predicted_score(logits), features)
    finally:
        for handle in handles:
            handle.remove()
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = (weights * features.detach()).sum(dim=1).clamp(min=0)
    return _scaled_to_image(cam, images.shape[-1])


def saliency_maps(model: nn.Module, images: torch.Tensor, discard_ratio: float) -> torch.Tensor:
    """Rollout where ``model`` is (or wraps) a timm ViT, GradCAM otherwise."""
    vit = next((m for m in model.modules() if isinstance(m, VisionTransformer)), None)
    if vit is not None:
        return vit_rollout_maps(model, vit, images, discard_ratio)
    return gradcam_maps(model, images)


def saliency_method(model: nn.Module) -> str:
    """The name of the map :func:`saliency_maps` computes for ``model``."""
    return "rollout" if any(isinstance(m, VisionTransformer) for m in model.modules()) else "gradcam"
