"""ATS, Adaptive Token Sampling (Fayyaz et al., ECCV 2022), as SlowFormer attacks it.

A parameter-free step inside chosen blocks: the significance of patch token j is its class-token
attention weighted by the norm of its value, S_j ∝ Σ_heads A_cls,j · ‖v_j‖. Inverse transform
sampling of the (descending-sorted) significance CDF at K evenly spaced points picks tokens,
with repeats; only the distinct picks go on, so a peaked significance keeps few tokens and a
uniform one keeps all K. The block then computes attention rows, projection and MLP for the
kept tokens only. K is ``budget`` × the patch tokens still active.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ucdbench_plugins.adaptive_vit.tokens import AdaptiveViT, classify, embed, key_bias, masked_block


def inverse_transform_sample(significance: torch.Tensor, active: torch.Tensor, budget: float) -> torch.Tensor:
    """Distinct tokens picked by K evenly spaced points on the significance CDF (B, M) → bool.

    ``active`` marks the candidate tokens; K = ceil(budget · active count) per sample.
    """
    weights = significance * active
    probs = weights / weights.sum(-1, keepdim=True).clamp_min(1e-12)
    order = probs.argsort(dim=-1, descending=True)
    cdf = probs.gather(-1, order).cumsum(-1)
    count = active.sum(-1, keepdim=True)
    k = (count * budget).ceil().clamp_min(1)
    steps = torch.arange(probs.shape[-1], device=probs.device).expand_as(probs)
    grid = (steps + 0.5) / k
    position = torch.minimum(torch.searchsorted(cdf, grid.contiguous()), count - 1)
    hits = torch.zeros(probs.shape, device=probs.device).scatter_add_(-1, position, (steps < k).float())
    picked = torch.zeros_like(active)
    picked.scatter_(-1, order, hits > 0)
    return picked & active


class ATS(AdaptiveViT):
    def __init__(self, vit: nn.Module, stages: tuple[int, ...], budget: float = 1.0) -> None:
        super().__init__(vit)
        bad = [s for s in stages if not 0 <= s < self.depth]
        if bad:
            raise ValueError(f"ATS stages {bad} are not blocks of a depth-{self.depth} ViT")
        if not 0 < budget <= 1:
            raise ValueError(f"ATS budget must be in (0, 1], not {budget}")
        self.stages, self.budget = tuple(sorted(stages)), budget

    def _select(self, significance: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """Patch tokens kept (B, M) under the current compute mode."""
        if self.compute_mode == "max":
            return active.clone()
        if self.compute_mode == "min":
            top = (significance * active).argmax(-1, keepdim=True)
            return torch.zeros_like(active).scatter_(-1, top, True)
        return inverse_transform_sample(significance, active, self.budget)

    @staticmethod
    def _qkv(block: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        attn = block.attn
        B, N, C = x.shape
        qkv = attn.qkv(block.norm1(x)).reshape(B, N, 3, attn.num_heads, C // attn.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        return attn.q_norm(q) * attn.scale, attn.k_norm(k), v

    @staticmethod
    def _finish(block: nn.Module, x: torch.Tensor, probs: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attention output of the rows in ``probs`` → projection and MLP with residuals."""
        B, H, n, _ = probs.shape
        out = (probs @ v).transpose(1, 2).reshape(B, n, -1)
        x = x + block.drop_path1(block.ls1(block.attn.proj(block.attn.norm(out))))
        return x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))

    @staticmethod
    def _significance(cls_probs: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """S_j = mean over heads of A_cls,j · ‖v_j‖ for the patch tokens (B, M)."""
        return (cls_probs[..., 1:] * v[:, :, 1:].norm(dim=-1)).mean(1)

    def forward_masked(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        x = embed(self.vit, images)
        B, N, _ = x.shape
        active = torch.ones(B, N, dtype=torch.bool, device=x.device)
        tokens, cls_attention = [], []
        for index, block in enumerate(self.vit.blocks):
            tokens.append(active.sum(-1))
            if index not in self.stages:
                x = masked_block(block, x, active)
                continue
            q, k, v = self._qkv(block, x)
            probs = (q @ k.transpose(-2, -1) + key_bias(active).to(q.dtype)).softmax(-1)
            cls_attention.append((probs[:, :, 0], active))
            kept = self._select(self._significance(probs[:, :, 0], v), active[:, 1:])
            new_active = torch.cat([torch.ones_like(kept[:, :1]), kept], dim=-1)
            x = torch.where(new_active[..., None], self._finish(block, x, probs, v), x)
            active = new_active
        stats = {"cls_attention": cls_attention, "tokens_per_block": torch.stack(tokens, dim=-1)}
        return classify(self.vit, x), stats

    def forward_dropping(self, image: torch.Tensor) -> torch.Tensor:
        x = embed(self.vit, image)
        for index, block in enumerate(self.vit.blocks):
            if index not in self.stages:
                x = block(x)
                continue
            q, k, v = self._qkv(block, x)
            cls_probs = (q[:, :, :1] @ k.transpose(-2, -1)).softmax(-1)
            active = torch.ones(1, x.shape[1] - 1, dtype=torch.bool, device=x.device)
            kept = self._select(self._significance(cls_probs[:, :, 0], v), active)[0]
            rows = torch.cat([torch.zeros(1, dtype=torch.long, device=x.device), kept.nonzero()[:, 0] + 1])
            probs = (q[:, :, rows] @ k.transpose(-2, -1)).softmax(-1)
            x = self._finish(block, x[:, rows], probs, v)
        return classify(self.vit, x)

    def uniformity_loss(self, stats: dict[str, Any], weights: tuple[float, ...]) -> torch.Tensor:
        """SlowFormer's ATS objective Σ_i c_i · mean_j (A_cls,i,j − 1/n_i)² over the active keys
        of ATS stage i; minimising it flattens the class attention so sampling keeps more."""
        total = torch.zeros(())
        for (probs, active), weight in zip(stats["cls_attention"], weights):
            n = active.sum(-1).float()[:, None, None]
            deviation = torch.where(active[:, None, :], probs - 1.0 / n, torch.zeros_like(probs))
            total = total + weight * (deviation.pow(2).sum(-1) / n[..., 0]).mean()
        return total


def default_stages(depth: int) -> tuple[int, ...]:
    """ATS blocks from a quarter of the depth on (DeiT-S: blocks 4–12 of 12, 1-indexed)."""
    return tuple(range(max(1, math.floor(depth / 4)), depth))
