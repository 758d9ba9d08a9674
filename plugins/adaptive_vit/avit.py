"""A-ViT (Yin et al., CVPR 2022): adaptive token halting, as SlowFormer attacks it.

After block l every token k gets a halting score h_l^k = σ(γ · e_l^k[0] − β) from the first
channel of its embedding (no new parameters). A token halts once its cumulative score reaches
1 − ε and is dropped from every later block; at the last block the rest halt. Training adds
the ponder loss ρ = Σ_k (N_k + R_k) (N_k: blocks the token ran through, R_k = 1 − Σ_{l<N_k} h_l
the remainder) and a KL term pulling the average halting distribution over blocks towards a
Gaussian prior centred at ``prior_depth``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ucdbench_plugins.adaptive_vit.tokens import AdaptiveViT, classify, embed, masked_block


def gaussian_prior(depth: int, center: float, std: float = 1.0) -> torch.Tensor:
    """A discrete Gaussian over the blocks 1..depth (sums to 1)."""
    blocks = torch.arange(1, depth + 1, dtype=torch.float32)
    weights = torch.exp(-0.5 * ((blocks - center) / std) ** 2)
    return weights / weights.sum()


def kl_divergence(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """KL(p ‖ q) of two distributions over the same support."""
    p = p.clamp_min(eps)
    return (p * (p.log() - q.clamp_min(eps).log())).sum()


class AViT(AdaptiveViT):
    def __init__(self, vit: nn.Module, gate_scale: float = 10.0, gate_center: float = 10.0,
                 eps: float = 0.01) -> None:
        super().__init__(vit)
        self.gate_scale, self.gate_center, self.eps = gate_scale, gate_center, eps

    def halting_scores(self, x: torch.Tensor) -> torch.Tensor:
        """h = σ(γ · e[..., 0] − β) per token; the class token never halts (score 0)."""
        h = torch.sigmoid(self.gate_scale * x[..., 0] - self.gate_center)
        return torch.cat([torch.zeros_like(h[..., :1]), h[..., 1:]], dim=-1)

    def _halts(self, cumulative: torch.Tensor, block: int) -> torch.Tensor:
        """Which tokens halt after ``block`` given their cumulative scores (class token never)."""
        if self.compute_mode == "min":
            halts = torch.ones_like(cumulative, dtype=torch.bool)
        elif self.compute_mode == "max":
            halts = torch.zeros_like(cumulative, dtype=torch.bool)
        else:
            halts = cumulative >= 1.0 - self.eps
        halts[..., 0] = False
        return halts

    def forward_masked(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        x = embed(self.vit, images)
        B, N, _ = x.shape
        active = torch.ones(B, N, dtype=torch.bool, device=x.device)
        cumulative = torch.zeros(B, N, device=x.device)
        ponder = torch.zeros(B, N, device=x.device)
        mass, tokens = [], []
        for index, block in enumerate(self.vit.blocks):
            tokens.append(active.sum(-1))
            x = masked_block(block, x, active)
            last = index == self.depth - 1
            h = self.halting_scores(x)
            halts = active & (torch.ones_like(active) if last else self._halts(cumulative + h, index))
            halts[:, 0] = halts[:, 0] & last
            remainder = 1.0 - cumulative
            # a running token's mass is h, capped so that a forced "max" run stays a distribution
            running = torch.where(active & ~halts, torch.minimum(h, remainder), torch.zeros_like(h))
            ponder = ponder + active.float() + torch.where(halts, remainder, torch.zeros_like(remainder))
            mass.append(torch.where(halts, remainder, running))
            cumulative = cumulative + running
            active = active & ~halts
            active[:, 0] = True
        patch_mass = torch.stack(mass, dim=-1)[:, 1:]  # (B, N-1, depth): each token's sums to 1
        stats = {
            "ponder": ponder[:, 1:].mean(),
            "halting_distribution": patch_mass.mean(dim=(0, 1)),
            "tokens_per_block": torch.stack(tokens, dim=-1),
        }
        return classify(self.vit, x), stats

    def forward_dropping(self, image: torch.Tensor) -> torch.Tensor:
        x = embed(self.vit, image)
        cumulative = torch.zeros(x.shape[:2], device=x.device)
        for index, block in enumerate(self.vit.blocks):
            x = block(x)
            if index == self.depth - 1:
                break
            cumulative = cumulative + self.halting_scores(x)
            keep = ~self._halts(cumulative, index)[0]
            x, cumulative = x[:, keep], cumulative[:, keep]
        return classify(self.vit, x)

    def regulariser(self, stats: dict[str, Any], ponder_weight: float, prior_weight: float,
                    prior_depth: float) -> torch.Tensor:
        """A-ViT's training terms: ponder_weight · ρ + prior_weight · KL(halting ‖ prior)."""
        prior = gaussian_prior(self.depth, prior_depth).to(stats["ponder"].device)
        return ponder_weight * stats["ponder"] + prior_weight * kl_divergence(stats["halting_distribution"], prior)
