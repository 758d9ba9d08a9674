"""FLOP counting: an analytic count for a timm ViT, CPU SDPA included, tokens really dropped."""

from __future__ import annotations

import pytest
import timm.models.vision_transformer as timm_vit
import torch

from ucdbench_plugins.evaluations.flops import forward_flops_per_sample
from ucdbench.running.flops import count_flops


def vit_flops(tokens: int, patches: int, dim: int, depth: int, mlp_ratio: float, in_chans: int, patch: int,
              classes: int) -> int:
    """FLOPs (2 × MACs) of one sample through timm's ViT; norms and activations are not counted."""
    hidden = int(dim * mlp_ratio)
    embed = 2 * patches * dim * in_chans * patch * patch
    block = (2 * tokens * dim * 3 * dim          # qkv projection
             + 4 * tokens * tokens * dim          # q kᵀ and attention × v, all heads
             + 2 * tokens * dim * dim             # output projection
             + 2 * 2 * tokens * dim * hidden)     # fc1 and fc2
    return embed + depth * block + 2 * dim * classes


@pytest.mark.parametrize("img,patch,dim,depth,heads", [(8, 2, 32, 2, 2), (28, 4, 48, 3, 3)])
def test_timm_vit_matches_the_analytic_count(img, patch, dim, depth, heads):
    model = timm_vit.VisionTransformer(img_size=img, patch_size=patch, in_chans=1, num_classes=7,
                                       embed_dim=dim, depth=depth, num_heads=heads, mlp_ratio=2.0).eval()
    batch = 3
    x = torch.rand(batch, 1, img, img)
    patches = (img // patch) ** 2
    counted = forward_flops_per_sample(_Forward(), model, x, batch)
    assert counted["flops"] == vit_flops(patches + 1, patches, dim, depth, 2.0, 1, patch, 7)
    sdpa = [op for op in counted["by_op"] if "scaled_dot_product" in op]
    assert sdpa and counted["by_op"][sdpa[0]] == depth * 4 * (patches + 1) ** 2 * dim


def test_dropped_tokens_are_saved_compute_masked_ones_are_not():
    attention = torch.nn.MultiheadAttention(16, 2, batch_first=True).eval()
    tokens = torch.rand(1, 32, 16)
    full = count_flops(lambda: attention(tokens, tokens, tokens, need_weights=False))["flops"]
    dropped = count_flops(lambda: attention(tokens[:, :8], tokens[:, :8], tokens[:, :8], need_weights=False))["flops"]
    mask = torch.zeros(1, 32, dtype=torch.bool)
    mask[:, 8:] = True
    masked = count_flops(lambda: attention(tokens, tokens, tokens, key_padding_mask=mask, need_weights=False))["flops"]
    assert dropped < full / 3
    assert masked >= full


class _Forward:
    """The slice of the Task interface the FLOPs helper uses."""

    def forward(self, model, inputs):
        return model(inputs)
