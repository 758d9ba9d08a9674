"""SimA attention: softmax-free, so the product can be reassociated to be linear in tokens.

q and k are L1-normalised per channel over the TOKEN axis (each column of q and of k has
absolute sum 1), which bounds every entry of q kᵀ without a softmax and without the 1/√d
scale. Because nothing non-linear sits between q kᵀ and v, ``(q kᵀ) v == q (kᵀ v)``: the
first costs O(N² d_h), the second O(N d_h²), so the cheaper order is picked on every call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def sima_normalize(t: torch.Tensor) -> torch.Tensor:
    """L1-normalise each channel of ``t`` (…, N, d_h) over the token axis N."""
    return F.normalize(t, p=1.0, dim=-2)


def sima_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, order: str = "auto") -> torch.Tensor:
    """SimA on (…, N, d_h) tensors.

    ``order``: ``"qk_first"`` computes (q kᵀ) v, ``"kv_first"`` computes q (kᵀ v), ``"auto"``
    takes kv_first when N > d_h (the order whose cost grows linearly with N).
    """
    q, k = sima_normalize(q), sima_normalize(k)
    if order == "auto":
        order = "kv_first" if q.shape[-2] > q.shape[-1] else "qk_first"
    if order == "kv_first":
        return q @ (k.transpose(-2, -1) @ v)
    if order == "qk_first":
        return (q @ k.transpose(-2, -1)) @ v
    raise ValueError(f"order must be 'auto', 'qk_first' or 'kv_first', not {order!r}")


class SimAAttention(nn.Module):
    """Drop-in replacement for timm's ``Attention`` (same ``qkv`` and ``proj`` layers)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        if attn_mask is not None or is_causal:
            raise ValueError("SimA attention takes no attention mask")
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        out = sima_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(B, N, C))


def use_sima_attention(model: nn.Module, num_heads: int | None = None) -> nn.Module:
    """Replace the attention of every block of a timm VisionTransformer with SimA, in place.

    ``num_heads`` None keeps each block's head count; 1 gives single-head SimA. The new
    modules take over the old ``qkv`` and ``proj`` weights (a from-scratch run trains them
    anyway; a fine-tune starts from them).
    """
    blocks = getattr(model, "blocks", None)
    if blocks is None:
        raise ValueError(f"{type(model).__name__} has no .blocks: SimA needs a timm VisionTransformer")
    for block in blocks:
        old = block.attn
        dim = old.qkv.in_features
        new = SimAAttention(dim, num_heads or old.num_heads, qkv_bias=old.qkv.bias is not None)
        new.qkv.load_state_dict(old.qkv.state_dict())
        new.proj.load_state_dict(old.proj.state_dict())
        block.attn = new
    return model
