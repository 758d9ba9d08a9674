"""ATS as the official code computes it, pinned against hand computations on tiny tensors: the
significance score, the slot budget, inverse transform sampling on the normalised CDF, the
default stages, and SlowFormer's ATS objective with its per-stage weights."""

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer

from tests.test_adaptive_vit import tiny_vit
from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench_plugins.shared.adaptive_vit.ats import (ATS, ClassAttention, default_stages, inverse_transform_sample,
                                               sampled_tokens, significance)
from ucdbench_plugins.methods.slowformer.losses import check_target, compute_loss


def test_significance_sums_heads_and_uses_the_value_norm_over_all_heads():
    cls_probs = torch.tensor([[[0.5, 0.3, 0.2],     # head 0: class token's attention to [cls, p1, p2]
                               [0.2, 0.2, 0.6]]])   # head 1
    v = torch.zeros(1, 2, 3, 2)                     # (B, heads, tokens, head dim)
    v[0, 0, 1] = torch.tensor([3.0, 0.0])           # p1: head 0 (3, 0), head 1 (0, 4) → ‖v‖ = 5
    v[0, 1, 1] = torch.tensor([0.0, 4.0])
    v[0, 0, 2] = torch.tensor([1.0, 0.0])           # p2: ‖v‖ = 1
    active = torch.ones(1, 2, dtype=torch.bool)
    # p1: (0.3 + 0.2) · 5 = 2.5, p2: (0.2 + 0.6) · 1 = 0.8; normalised by 3.3
    torch.testing.assert_close(significance(cls_probs, v, active), torch.tensor([[2.5 / 3.3, 0.8 / 3.3]]))
    dropped = torch.tensor([[True, False]])
    torch.testing.assert_close(significance(cls_probs, v, dropped), torch.tensor([[1.0, 0.0]]))


def test_sampled_tokens_follow_the_official_budget_rule():
    assert sampled_tokens(197, 1.0) == 197        # the official NUM_TOKENS 197: every slot
    assert sampled_tokens(50, 0.5) == 25
    assert sampled_tokens(17, 0.5) == 8           # 8.5 rounds to 8 (Python rounding)
    assert sampled_tokens(17, 0.1) == 8           # never fewer than 8 ...
    assert sampled_tokens(5, 0.1) == 5            # ... nor more than the slots


def test_uniform_significance_keeps_all_but_the_least_significant_token():
    # sorted CDF .25 .5 .75 1 → normalised 0 1/3 2/3 1; 4 points from 1/3 to 1: 1/3 5/9 7/9 1
    # → slots 1 2 2 3; slot 0 (token 0, first of the ties) has CDF 0 and is never picked
    picked = inverse_transform_sample(torch.full((1, 4), 0.25), slots=5, sampled=5)
    assert picked.tolist() == [[False, True, True, True]]


def test_empty_slots_are_never_picked_and_padding_matches_them():
    # token 0 was dropped (score 0): CDF 0 .2 .5 1, points .2 .467 .733 1 → slots 1 2 2 3
    picked = inverse_transform_sample(torch.tensor([[0.0, 0.2, 0.3, 0.5]]), slots=5, sampled=5)
    assert picked.tolist() == [[False, True, True, True]]
    # the dropping path holds only the three tokens and pads the empty slot at the end
    padded = inverse_transform_sample(torch.tensor([[0.2, 0.3, 0.5, 0.0]]), slots=5, sampled=5)
    assert padded.tolist() == [[True, True, True, False]]
    one_hot = torch.zeros(1, 16)
    one_hot[0, 5] = 1.0
    assert inverse_transform_sample(one_hot, slots=17, sampled=17).nonzero()[:, 1].tolist() == [5]


def test_peaked_significance_keeps_few_tokens():
    # seven tokens at .01, token 3 at .93: normalised CDF 0 1/99 … 6/99 1, points (1 + 14i)/99
    # → sorted slots 1, 6, 6, 6, 7, 7, 7, 7 → tokens 1, 7 (slot 6) and 3 (slot 7)
    scores = torch.full((1, 8), 0.01)
    scores[0, 3] = 0.93
    picked = inverse_transform_sample(scores, slots=9, sampled=9)
    assert picked.nonzero()[:, 1].tolist() == [1, 3, 7]


def test_a_smaller_budget_samples_only_among_the_most_significant():
    # 8 uniform tokens, n = 5: 4 points 1/7 3/7 5/7 1 matched to the last 4 sorted slots
    # (CDF 4/7 5/7 6/7 1) → slots 4 4 5 7
    picked = inverse_transform_sample(torch.full((1, 8), 0.125), slots=9, sampled=5)
    assert picked.nonzero()[:, 1].tolist() == [4, 5, 7]
    with pytest.raises(ValueError, match="sample"):
        inverse_transform_sample(torch.full((1, 4), 0.25), slots=9, sampled=9)


def test_default_stages_follow_the_official_deit_config():
    assert default_stages(12) == (3, 4, 5, 6, 7, 8, 9, 10, 11)  # ATS_BLOCKS of configs/ImageNet/DeiT_S.yaml
    assert default_stages(4) == (1, 2, 3)
    assert default_stages(2) == (1,)


def test_masked_and_dropping_paths_agree_with_a_budget():
    model = ATS(tiny_vit(), default_stages(4), budget=0.5).eval()  # 17 slots → 8 → 8
    images = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        masked, stats = model.forward_masked(images)
        dropped = model(images)
    torch.testing.assert_close(masked, dropped, rtol=1e-5, atol=1e-5)
    assert [stage.slots for stage in stats["cls_attention"]] == [17, 8, 8]
    assert (stats["tokens_per_block"][:, 2:] <= 8).all()


def _stage(probs: list[list[list[float]]], active: list[list[bool]], slots: int) -> ClassAttention:
    return ClassAttention(torch.tensor(probs), torch.tensor(active), slots)


def test_slowformer_ats_objective_by_hand():
    every = [True, True, True, True]
    token_2_dropped = [True, True, False, True]
    first = _stage([[[0.1, 0.4, 0.3, 0.2], [0.3, 0.1, 0.2, 0.4]],   # sample 0, heads 0 and 1
                    [[0.2, 0.5, 0.0, 0.3], [0.4, 0.2, 0.0, 0.4]]],  # sample 1
                   [every, token_2_dropped], slots=4)
    # sample 0, target 1/3, class key excluded: head 0 (1/15)² + (1/30)² + (2/15)² = 21/900,
    # head 1 (7/30)² + (4/30)² + (2/30)² = 69/900 → 90/900.
    # sample 1: the dropped token still holds a slot at attention 0 → + (1/3)² per head:
    # head 0 (1/6)² + (1/30)² + 1/9 = 126/900, head 1 (2/15)² + (1/15)² + 1/9 = 120/900 → 246/900
    second = _stage([[[0.2, 0.5, 0.0, 0.3], [0.4, 0.2, 0.0, 0.4]]] * 2, [token_2_dropped] * 2, slots=3)
    # 2 patch slots (budget < 1), both held: target 1/2 → head 0 0² + .2² = .04, head 1 .3² + .1² = .10
    stats = {"cls_attention": [first, second]}
    expected = 1.0 * (90 / 900 + 246 / 900) / 2 + 0.2 * 0.14
    assert ATS.uniformity_loss(stats, (1.0, 0.2)).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="one weight per stage"):
        ATS.uniformity_loss(stats, (1.0, 0.2, 0.05))


def test_slowformer_weights_one_per_stage_in_block_order():
    model = ATS(tiny_vit(), (1, 2, 3))
    _, stats = model.forward_masked(torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(6)))
    torch.testing.assert_close(compute_loss(model, stats), ATS.uniformity_loss(stats, (1.0, 0.2, 0.05)))
    torch.manual_seed(0)
    deep = ATS(VisionTransformer(img_size=8, patch_size=2, in_chans=1, num_classes=5, embed_dim=8, depth=12,
                                 num_heads=2), default_stages(12))
    _, stats = deep.forward_masked(torch.rand(1, 1, 8, 8))
    fix = r"target_settings=\{\"stages\": \[3, 4, 5, 6, 7, 8, 9\]\}"  # the setting that fixes it, with 7 stages
    with pytest.raises(UcdbenchError, match=f"7 per-stage weights.*9 ATS stages.*{fix}"):
        compute_loss(deep, stats)
    with pytest.raises(UcdbenchError, match="9 ATS stages"):
        check_target(deep)  # what slowformer checks before it fits its target
    check_target(ATS(deep.vit, (3, 4, 5, 6, 7, 8, 9)))


def test_slowformer_attacks_an_avit_with_its_own_regulariser_the_ponder_weight_negated():
    """SlowFormer's A-ViT objective (avit/engine_act.py, weights from avit/run.sh): −5e-4 · ρ plus
    1e-3 · the KL term to the target's own prior, kept only where positive."""
    from tests.test_adaptive_vit import halting_avit
    from ucdbench_plugins.shared.adaptive_vit.avit import halting_distribution, prior_kl

    model = halting_avit()
    _, stats = model.forward_masked(torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(2)))
    kl = prior_kl(halting_distribution(stats["layer_scores"]), model.prior)
    expected = -5e-4 * stats["ponder"] + (1e-3 * kl).clamp_min(0.0)
    assert float(stats["ponder"]) > 0
    torch.testing.assert_close(compute_loss(model, stats), expected)
    with pytest.raises(TypeError, match="^SlowFormer has no objective for Linear$"):
        compute_loss(torch.nn.Linear(1, 1), stats)
