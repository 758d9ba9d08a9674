"""Pieces both adaptive ViTs share: embedding and classifying with a timm ViT, blocks that run on
a subset of tokens, and the switch between the two equivalent forward paths.

Two paths compute the same function:

- the *masked* path (training, attacks) keeps every token in a batched tensor and removes the
  inactive ones from attention with a key mask and by discarding their updates — differentiable,
  but it saves no compute;
- the *dropping* path (inference) runs each sample alone and gathers the active tokens, so a
  dropped token is really gone from every later matmul and FlopCounterMode sees the saving.

ATS never drops the class token (its prediction is the class token's last state); A-ViT halts
it like any other token, as the official code does, and predicts from the halting-weighted sum
of its states.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

COMPUTE_MODES = ("adaptive", "min", "max")
"""``adaptive``: the model decides; ``min``: drop every droppable token at the earliest point;
``max``: drop nothing (the dense model). ``min`` and ``max`` bound what an attack can do."""


def embed(vit: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Patch embedding, class token and position embedding of a timm VisionTransformer."""
    x = vit.patch_embed(images)
    x = vit._pos_embed(x)
    x = vit.patch_drop(x)
    return vit.norm_pre(x)


def classify(vit: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Final norm and head on the token sequence (the class token is at position 0)."""
    return vit.forward_head(vit.norm(x))


def key_bias(active: torch.Tensor) -> torch.Tensor:
    """Additive attention bias (B, 1, 1, N): 0 for active keys, -inf for inactive ones.

    A sample with no active token masks nothing: its updates are discarded anyway, and a row of
    -inf keys would make the softmax (and every gradient through it) NaN.
    """
    active = active | ~active.any(-1, keepdim=True)
    bias = torch.zeros(active.shape, dtype=torch.float32, device=active.device)
    return bias.masked_fill(~active, float("-inf"))[:, None, None, :]


def masked_block(block: nn.Module, x: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """One timm Block in which inactive tokens are neither attended to nor updated."""
    out = block(x, attn_mask=key_bias(active).to(x.dtype))
    return torch.where(active[..., None], out, x)


class AdaptiveViT(nn.Module):
    """Base of A-ViT and ATS: wraps a timm VisionTransformer ``vit`` (whose weights it owns);
    images pass through ``inputs`` first (the task's normalisation where its model has one).

    Subclasses implement :meth:`forward_masked` (batched, returns logits and the statistics
    their losses need) and :meth:`forward_dropping` (one sample, real token removal).
    ``forward`` takes the masked path in training and the dropping path in eval mode.
    """

    def __init__(self, vit: nn.Module, inputs: nn.Module | None = None) -> None:
        super().__init__()
        if not hasattr(vit, "blocks") or getattr(vit, "cls_token", None) is None:
            raise ValueError("an adaptive ViT needs a timm VisionTransformer with a class token")
        self.vit = vit
        self.inputs = nn.Identity() if inputs is None else inputs
        self.compute_mode = "adaptive"
        self.last_stats: dict[str, Any] = {}

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """The token sequence of ``images`` (:func:`embed` after ``inputs``)."""
        return embed(self.vit, self.inputs(images))

    @property
    def depth(self) -> int:
        return len(self.vit.blocks)

    def constants(self) -> dict[str, Any]:
        """The constructor's arguments besides ``vit`` (JSON-serialisable): with the ViT's
        architecture and the state dict they rebuild the model, ``type(self)(vit, **constants)``."""
        raise NotImplementedError

    @contextmanager
    def forced_compute(self, mode: str) -> Iterator[None]:
        """Run with ``mode`` (one of :data:`COMPUTE_MODES`) instead of the adaptive policy."""
        if mode not in COMPUTE_MODES:
            raise ValueError(f"compute mode must be one of {COMPUTE_MODES}, not {mode!r}")
        previous, self.compute_mode = self.compute_mode, mode
        try:
            yield
        finally:
            self.compute_mode = previous

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.training:
            logits, self.last_stats = self.forward_masked(images)
            return logits
        return torch.cat([self.forward_dropping(images[i:i + 1]) for i in range(images.shape[0])])

    def forward_masked(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        raise NotImplementedError

    def forward_dropping(self, image: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def kept_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Tokens each sample keeps per block (B, depth), from the masked path."""
        with torch.no_grad():
            return self.forward_masked(images)[1]["tokens_per_block"]
