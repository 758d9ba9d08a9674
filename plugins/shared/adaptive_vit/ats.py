"""ATS, Adaptive Token Sampling (Fayyaz et al., ECCV 2022), as SlowFormer attacks it.

This follows the code SlowFormer attacks — UCDvision/SlowFormer
AdaptiveTokenSampling/lib/models/TokenSampler.py (``TokenSampling.forward``,
``inverse_transform_sampling``, ``create_ys``, ``get_unique_indices``), a copy of the official
ATS block (adaptivetokensampling/ATS libs/models/transformers/ats_block.py,
``AdaptiveTokenSampler``). Where the two differ this follows SlowFormer: its tensor keeps n
slots after a stage whatever was dropped (the ATS block's ``DROP_TOKENS`` shrinks it to the
batch's largest kept count, which makes the sampling depend on the batch), and with budget < 1
it places n − 1 points (the ATS block one per patch of the image). From the ATS block it takes the cap n ≤ S, without which
SlowFormer's code fails on fewer than 8 slots. An ATS stage is a block whose attention also
picks the tokens that go on:

1. **Significance** of patch token j: S_j = (Σ_heads A_cls,j) · ‖v_j‖, the class-token attention
   summed (not averaged) over heads times the norm of the token's value concatenated over heads
   (one norm per token, not one per head), normalised to sum to 1 over the patch tokens. A token
   dropped earlier scores 0 (the official code zeroes its q, k, v).
2. **Slots.** The official tensor does not shrink when tokens are dropped: a stage entering with
   S slots (class token included; all tokens at the first stage) samples
   n = min(S, round(max(8, budget · S))) of them and hands n slots on, the dropped ones empty.
   With the official setting (budget 1: ``NUM_TOKENS`` 197 for every block in the ATS-DeiT-S
   config) n = S at every stage.
3. **Inverse transform sampling.** Sort the S − 1 patch slots' scores ascending (empty slots and
   dropped tokens are zeros at the front), take the cumulative sum and min–max normalise it to
   [0, 1]; put n − 1 points evenly from the smallest non-zero normalised value to 1 and give
   each point the slot, among the last n − 1 (the most significant), whose normalised CDF is
   nearest (the first one on a tie; equal scores sort in token order, which the official
   unstable sort leaves open). Repeated picks are merged; the distinct picks go on.
   What follows from the code and is kept here: a slot whose normalised CDF is 0 is never
   picked — the empty slots, and, at a stage with no empty slot, the least significant token —
   so a uniform significance keeps every token but that one and a peaked one keeps few.
4. The block then computes attention rows, projection and MLP for the class token (never
   dropped) and the kept tokens only.

The masked path keeps every token in place and tracks the slot count S separately; the dropping
path pads the significance of the tokens it still holds with zeros to S − 1 slots, so both see
the same sorted CDF and pick the same tokens. One departure: the official softmax gives a masked
key a weight of about 1e-6 / N (``softmax_with_policy``); here it gets exactly 0.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ucdbench_plugins.shared.adaptive_vit.tokens import AdaptiveViT, classify, key_bias, masked_block

MIN_SAMPLED_TOKENS = 8
"""The official floor on the tokens a stage samples (``AdaptiveTokenSampler.forward``)."""


def sampled_tokens(slots: int, budget: float) -> int:
    """n, the tokens (class token included) a stage with ``slots`` slots samples: budget · slots,
    at least 8, at most ``slots``, rounded as Python rounds (official ``forward``)."""
    return min(slots, round(max(MIN_SAMPLED_TOKENS, budget * slots)))


def significance(cls_probs: torch.Tensor, v: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """S_j = (Σ_heads A_cls,j) · ‖v_j‖ over the patch tokens, normalised to sum 1 (B, N − 1).

    ``cls_probs`` (B, H, N) is the class token's attention row, ``v`` (B, H, N, d) the values,
    ``active`` (B, N − 1) the patch tokens still in play (the others score 0).
    """
    B, H, N, d = v.shape
    value_norm = v.transpose(1, 2).reshape(B, N, H * d).norm(dim=-1)
    score = (cls_probs.sum(1) * value_norm)[:, 1:] * active
    return score / score.sum(-1, keepdim=True).clamp_min(torch.finfo(score.dtype).tiny)


def inverse_transform_sample(scores: torch.Tensor, slots: int, sampled: int) -> torch.Tensor:
    """Tokens picked by the official inverse transform sampling (B, M) → bool (B, M).

    ``scores`` are the significances with zeros for dropped tokens, M ≥ ``slots`` − 1 (pad with
    zeros when fewer tokens are held); ``sampled`` is n. Only the last ``slots`` − 1 sorted
    entries are the official tensor's slots: the ones before them are zeros either way.
    """
    width, points = slots - 1, sampled - 1
    if not 2 <= points <= width <= scores.shape[-1]:
        raise ValueError(f"cannot sample {sampled} of {slots} slots from {scores.shape[-1]} scores")
    ordered, order = scores.sort(dim=-1, stable=True)
    ordered, order = ordered[:, -width:], order[:, -width:]
    cdf = ordered.cumsum(-1)
    low, high = cdf[:, :1], cdf[:, -1:]
    normalized = (cdf - low) / (high - low).clamp_min(torch.finfo(cdf.dtype).tiny)
    start = torch.where(normalized > 0, normalized, torch.full_like(normalized, math.inf)).amin(-1, keepdim=True)
    start = torch.where(torch.isinf(start), torch.ones_like(start), start)
    steps = torch.arange(points, device=scores.device, dtype=cdf.dtype) / (points - 1)
    ys = start + (1 - start) * steps
    candidates = normalized[:, width - points:]
    nearest = (ys[:, :, None] - candidates[:, None, :]).abs().argmin(-1) + (width - points)
    picked_slots = torch.zeros_like(ordered, dtype=torch.bool).scatter_(-1, nearest, True)
    return torch.zeros_like(scores, dtype=torch.bool).scatter_(-1, order, picked_slots)


class ClassAttention(NamedTuple):
    """What SlowFormer's ATS objective needs from one stage."""

    probs: torch.Tensor
    """(B, H, N): the class token's attention over all N tokens (0 on dropped keys)."""
    active: torch.Tensor
    """(B, N): the tokens in play when the stage ran."""
    slots: int
    """S, the official tensor's slot count at the stage (class token included)."""


class ATS(AdaptiveViT):
    def __init__(self, vit: nn.Module, stages: tuple[int, ...], budget: float = 1.0,
                 inputs: nn.Module | None = None) -> None:
        super().__init__(vit, inputs)
        bad = [s for s in stages if not 0 <= s < self.depth]
        if bad:
            raise ValueError(f"ATS stages {bad} are not blocks of a depth-{self.depth} ViT")
        if not 0 < budget <= 1:
            raise ValueError(f"ATS budget must be in (0, 1], not {budget}")
        if vit.patch_embed.num_patches < 2:
            raise ValueError("ATS needs at least 2 patch tokens to sample from")
        self.stages, self.budget = tuple(sorted(stages)), budget

    def constants(self) -> dict[str, Any]:
        return {"stages": list(self.stages), "budget": self.budget}

    def _select(self, scores: torch.Tensor, active: torch.Tensor, slots: int) -> torch.Tensor:
        """Patch tokens kept (B, M) under the current compute mode."""
        if self.compute_mode == "max":
            return active.clone()
        if self.compute_mode == "min":
            top = scores.argmax(-1, keepdim=True)
            return torch.zeros_like(active).scatter_(-1, top, True)
        return inverse_transform_sample(scores, slots, sampled_tokens(slots, self.budget)) & active

    def _next_slots(self, slots: int) -> int:
        """Slots after a stage: n, except that a forced dense run ("max") drops nothing."""
        return slots if self.compute_mode == "max" else sampled_tokens(slots, self.budget)

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

    def forward_masked(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        x = self.embed(images)
        B, N, _ = x.shape
        active = torch.ones(B, N, dtype=torch.bool, device=x.device)
        slots = N
        tokens, cls_attention = [], []
        for index, block in enumerate(self.vit.blocks):
            tokens.append(active.sum(-1))
            if index not in self.stages:
                x = masked_block(block, x, active)
                continue
            q, k, v = self._qkv(block, x)
            probs = (q @ k.transpose(-2, -1) + key_bias(active).to(q.dtype)).softmax(-1)
            cls_attention.append(ClassAttention(probs[:, :, 0], active, slots))
            scores = significance(probs[:, :, 0], v, active[:, 1:])
            kept = self._select(scores, active[:, 1:], slots)
            new_active = torch.cat([torch.ones_like(kept[:, :1]), kept], dim=-1)
            x = torch.where(new_active[..., None], self._finish(block, x, probs, v), x)
            active, slots = new_active, self._next_slots(slots)
        stats = {"cls_attention": cls_attention, "tokens_per_block": torch.stack(tokens, dim=-1)}
        return classify(self.vit, x), stats

    def forward_dropping(self, image: torch.Tensor) -> torch.Tensor:
        x = self.embed(image)
        slots = x.shape[1]
        for index, block in enumerate(self.vit.blocks):
            if index not in self.stages:
                x = block(x)
                continue
            q, k, v = self._qkv(block, x)
            cls_probs = (q[:, :, :1] @ k.transpose(-2, -1)).softmax(-1)
            held = x.shape[1] - 1
            active = torch.ones(1, held, dtype=torch.bool, device=x.device)
            empty = slots - 1 - held  # slots whose tokens were dropped: zeros in the official CDF
            scores = F.pad(significance(cls_probs[:, :, 0], v, active), (0, empty))
            kept = self._select(scores, F.pad(active, (0, empty)), slots)[0, :held]
            rows = torch.cat([torch.zeros(1, dtype=torch.long, device=x.device), kept.nonzero()[:, 0] + 1])
            probs = (q[:, :, rows] @ k.transpose(-2, -1)).softmax(-1)
            x = self._finish(block, x[:, rows], probs, v)
            slots = self._next_slots(slots)
        return classify(self.vit, x)

    @staticmethod
    def uniformity_loss(stats: dict[str, Any], weights: tuple[float, ...]) -> torch.Tensor:
        """SlowFormer's ATS objective Σ_i c_i · mean_batch Σ_heads Σ_slots (A_cls,j − 1/(S_i − 1))²
        over the S_i − 1 patch slots of stage i (the class-token key excluded), one weight c_i per
        stage in block order (official ``HLoss`` and ``train_one_epoch`` in UCDvision/SlowFormer
        AdaptiveTokenSampling/engine.py). An empty slot, or a dropped token, has attention 0 and
        adds (1/(S_i − 1))². Minimising it flattens the class attention, so sampling keeps more."""
        stages = stats["cls_attention"]
        if len(weights) != len(stages):
            raise ValueError(f"the ATS objective needs one weight per stage: {len(stages)} stages, "
                             f"{len(weights)} weights")
        total = torch.zeros(())
        for (probs, active, slots), weight in zip(stages, weights):
            target = 1.0 / (slots - 1)
            patch_probs, patch_active = probs[:, :, 1:], active[:, None, 1:]
            held = torch.where(patch_active, (patch_probs - target) ** 2, torch.zeros_like(patch_probs))
            empty = (slots - 1 - active[:, 1:].sum(-1)) * probs.shape[1] * target**2
            total = total + weight * (held.sum((-2, -1)) + empty).mean()
        return total


def default_stages(depth: int) -> tuple[int, ...]:
    """ATS stages: every block from a quarter of the depth on (0-indexed), the rule behind the
    official ATS-DeiT-S config (adaptivetokensampling/ATS configs/ImageNet/DeiT_S.yaml,
    ``ATS_BLOCKS: [3, ..., 11]`` of 12 blocks); at least the first block stays dense. Depth 4 →
    blocks 1–3, depth 2 → block 1."""
    return tuple(range(max(1, depth // 4), depth))
