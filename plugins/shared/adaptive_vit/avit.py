"""A-ViT (Yin et al., CVPR 2022): adaptive token halting, as the official code trains it and as
SlowFormer attacks it.

Every definition below follows NVlabs/A-ViT (``timm/models/act_vision_transformer.py``:
``Block_ACT.forward_act`` and ``VisionTransformer.forward_features_act_token``;
``engine_act.py``: ``train_one_epoch``; ``utils.py``: ``get_distribution_target``):

- After block l every token k — the class token too — gets a halting score
  h_l^k = σ(γ · e_l^k[0] − β) from the first channel of its state (no new parameters); at the
  last block h = 1. A token halts once its cumulative score reaches 1 − ε and is dropped from
  every later block (as a key and as a query).
- The prediction is ACT's (Graves, 2016): the head reads the halting-weighted sum of the class
  token's states, Σ_l w_l · e_l^0 with w_l = h_l while it runs and the remainder
  R = 1 − Σ_{l<N} h_l at the block N where it halts. So the task loss trains the halting
  scores; the head reads only the class token, so only its sum is kept.
- Ponder cost ρ_k = N_k + R_k per token (N_k: blocks it ran), averaged over the tokens of the
  batch, class token included.
- Distributional prior: H_l = the mean halting score of block l over the batch's tokens (class
  token included; a halted token counts with σ(−β), the score of the zeroed state the
  official code leaves it in), normalised to sum 1, then clamped to [0.01, 0.99] (not
  renormalised). The loss is ``nn.KLDivLoss(reduction="batchmean")(log H, prior)`` = Σ_l
  prior_l (log prior_l − log H_l) / depth, i.e. KL(prior ‖ H) / depth, added only when positive.
  The prior is a unit-std Gaussian density over the 0-based block index centred at
  ``target_depth``, scaled so that its first ``target_depth`` entries sum to 0.98 (so the whole
  prior need not sum to 1).

One departure: the official code averages ``h[1:]`` of its (batch, token) score tensor, which
skips the batch's first *sample* (not the class token); we average every sample, since that
one sample's weight cannot matter and a batch of one would leave the term undefined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ucdbench_plugins.shared.adaptive_vit.tokens import AdaptiveViT, classify, masked_block

PRIOR_BUFFER = 0.02
"""Mass the official prior leaves outside its first ``target_depth`` blocks (``buffer``)."""
DISTRIBUTION_CLAMP = (0.01, 0.99)


def default_target_depth(depth: int) -> int:
    """The official prior's target (block 8 of 12, 0-based) scaled to ``depth`` blocks."""
    return (depth * 8) // 12


def distribution_prior(depth: int, target_depth: int, std: float = 1.0) -> torch.Tensor:
    """The official Gaussian target (``get_distribution_target(standardized=True)``)."""
    if not 0 < target_depth < depth:
        raise ValueError(f"the prior's target depth must be a block index in 1..{depth - 1} of this {depth}-block ViT, "
                         f"not {target_depth}: use 'auto' or a smaller index")
    blocks = torch.arange(depth, dtype=torch.float32)
    density = torch.exp(-0.5 * ((blocks - target_depth) / std) ** 2) / (std * math.sqrt(2 * math.pi))
    return density * (1.0 - PRIOR_BUFFER) / density[:target_depth].sum()


def halting_distribution(layer_scores: torch.Tensor) -> torch.Tensor:
    """Per-block mean halting scores → the distribution the prior is compared with."""
    return (layer_scores / layer_scores.sum()).clamp(*DISTRIBUTION_CLAMP)


def prior_kl(distribution: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """``KLDivLoss(reduction="batchmean")(log distribution, prior)`` over the blocks."""
    return F.kl_div(distribution.log(), prior, reduction="batchmean")


@dataclass(frozen=True)
class HaltingState:
    """ACT bookkeeping per token (B, N): cumulative score, remainder, ponder cost, running."""

    cumulative: torch.Tensor
    remainder: torch.Tensor
    ponder: torch.Tensor
    active: torch.Tensor

    @classmethod
    def start(cls, batch: int, tokens: int, device: torch.device) -> HaltingState:
        zeros = torch.zeros(batch, tokens, device=device)
        return cls(zeros, torch.ones_like(zeros), zeros, torch.ones(batch, tokens, dtype=torch.bool, device=device))

    def step(self, h: torch.Tensor, eps: float) -> tuple[HaltingState, torch.Tensor]:
        """Advance by one block with scores ``h`` of the tokens that ran it. Returns the next
        state and each token's weight for the state it just produced (0 for halted tokens)."""
        zero = torch.zeros_like(h)
        cumulative = self.cumulative + torch.where(self.active, h, zero)
        halts = self.active & (cumulative >= 1.0 - eps)
        running = self.active & ~halts
        weight = torch.where(halts, self.remainder, zero) + torch.where(running, h, zero)
        ponder = self.ponder + self.active.float() + torch.where(halts, self.remainder, zero)
        remainder = self.remainder - torch.where(running, h, zero)
        return HaltingState(cumulative, remainder, ponder, running), weight


class AViT(AdaptiveViT):
    def __init__(self, vit: nn.Module, gate_scale: float = 10.0, gate_center: float = 30.0, eps: float = 0.01,
                 target_depth: int | None = None, inputs: nn.Module | None = None) -> None:
        super().__init__(vit, inputs)
        self.gate_scale, self.gate_center, self.eps = gate_scale, gate_center, eps
        self.target_depth = default_target_depth(self.depth) if target_depth is None else target_depth
        self.register_buffer("prior", distribution_prior(self.depth, self.target_depth), persistent=False)

    def constants(self) -> dict[str, Any]:
        return {"gate_scale": self.gate_scale, "gate_center": self.gate_center, "eps": self.eps,
                "target_depth": self.target_depth}

    def halting_scores(self, x: torch.Tensor) -> torch.Tensor:
        """h = σ(γ · e[..., 0] − β) for every token."""
        return torch.sigmoid(self.gate_scale * x[..., 0] - self.gate_center)

    def _policy_scores(self, x: torch.Tensor, last: bool) -> torch.Tensor:
        """The scores that decide halting: 1 at the last block; under a forced compute mode 1
        (``min``: everything halts after the first block) or 0 (``max``: nothing halts early)."""
        if last or self.compute_mode == "min":
            return torch.ones_like(x[..., 0])
        if self.compute_mode == "max":
            return torch.zeros_like(x[..., 0])
        return self.halting_scores(x)

    def forward_masked(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        x = self.embed(images)
        B, N, _ = x.shape
        state = HaltingState.start(B, N, x.device)
        output = torch.zeros_like(x[:, 0])
        halted_score = torch.sigmoid(torch.tensor(-self.gate_center, device=x.device))
        layer_scores, tokens = [], []
        for index, block in enumerate(self.vit.blocks):
            tokens.append(state.active.sum(-1))
            x = masked_block(block, x, state.active)
            layer_scores.append(torch.where(state.active, self.halting_scores(x), halted_score).mean())
            state, weight = state.step(self._policy_scores(x, index == self.depth - 1), self.eps)
            output = output + weight[:, :1] * x[:, 0]
        stats = {
            "ponder": state.ponder.mean(),
            "layer_scores": torch.stack(layer_scores),
            "tokens_per_block": torch.stack(tokens, dim=-1),
        }
        return classify(self.vit, output[:, None]), stats

    def forward_dropping(self, image: torch.Tensor) -> torch.Tensor:
        x = self.embed(image)
        state = HaltingState.start(1, x.shape[1], x.device)
        output = torch.zeros_like(x[:, 0])
        for index, block in enumerate(self.vit.blocks):
            running = state.active[0].nonzero()[:, 0]  # the tokens x holds, in order
            x = block(x)
            h = torch.zeros_like(state.cumulative)
            h[:, running] = self._policy_scores(x, index == self.depth - 1)
            state, weight = state.step(h, self.eps)
            if running[0] == 0:  # the class token ran this block
                output = output + weight[:, :1] * x[:, 0]
            x = x[:, state.active[0, running]]
            if x.shape[1] == 0:
                break
        return classify(self.vit, output[:, None])

    def regulariser(self, stats: dict[str, Any], ponder_weight: float, prior_weight: float) -> torch.Tensor:
        """ponder_weight · ρ + prior_weight · KL term (the latter only when positive, as the
        official ``train_one_epoch`` adds it)."""
        prior_term = prior_weight * prior_kl(halting_distribution(stats["layer_scores"]), self.prior)
        return ponder_weight * stats["ponder"] + prior_term.clamp_min(0.0)
