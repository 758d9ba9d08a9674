"""A-ViT and ATS: the masked (training) and dropping (inference) paths compute the same thing,
dropped tokens really leave the compute, and the compute extremes bound the adaptive policy."""

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer

from ucdbench.flops import count_flops
from ucdbench_plugins.adaptive_vit.ats import ATS, default_stages
from ucdbench_plugins.adaptive_vit.avit import AViT, gaussian_prior


def tiny_vit(seed: int = 0) -> VisionTransformer:
    torch.manual_seed(seed)
    return VisionTransformer(img_size=8, patch_size=2, in_chans=1, num_classes=5, embed_dim=32, depth=4,
                             num_heads=2, mlp_ratio=2.0)


def halting_avit() -> AViT:
    """A random A-ViT whose gate makes some (not all) tokens halt mid-network."""
    return AViT(tiny_vit(), gate_scale=3.0, gate_center=-1.0).eval()


def peaked_ats() -> ATS:
    """A random ATS whose class attention is sharpened so sampling repeats tokens."""
    vit = tiny_vit()
    with torch.no_grad():
        for block in vit.blocks:
            block.attn.qkv.weight[:64] *= 25.0  # larger q and k: peakier softmax
    return ATS(vit, default_stages(4)).eval()


def per_sample_flops(model, images) -> list[int]:
    with torch.no_grad():
        return [count_flops(lambda: model(images[i:i + 1]))["flops"] for i in range(len(images))]


@pytest.mark.parametrize("build", [halting_avit, peaked_ats])
@pytest.mark.parametrize("mode", ["adaptive", "min", "max"])
def test_masked_and_dropping_paths_agree(build, mode):
    model = build()
    images = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), model.forced_compute(mode):
        masked, _ = model.forward_masked(images)
        dropped = model(images)
    torch.testing.assert_close(masked, dropped, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("build", [halting_avit, peaked_ats])
def test_dropped_tokens_save_counted_flops(build):
    model = build()
    images = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    kept = model.kept_tokens(images)
    assert (kept[:, -1] < kept[:, 0]).all(), "the fixture should drop tokens on every sample"
    adaptive = per_sample_flops(model, images)
    with model.forced_compute("min"):
        low = per_sample_flops(model, images)
    with model.forced_compute("max"):
        high = per_sample_flops(model, images)
    dense = count_flops(lambda: model.vit(images[:1]))["flops"]
    assert all(lo < a < hi for lo, a, hi in zip(low, adaptive, high))
    assert min(high) >= dense
    # fewer kept token-blocks, fewer FLOPs: the saving is per sample, not per batch
    order = kept.sum(-1).argsort()
    assert adaptive[order[0]] <= adaptive[order[-1]]


def test_max_mode_is_the_dense_vit():
    for model in (halting_avit(), peaked_ats()):
        images = torch.rand(3, 1, 8, 8)
        with torch.no_grad(), model.forced_compute("max"):
            torch.testing.assert_close(model(images), model.vit.eval()(images), rtol=1e-5, atol=1e-5)


def test_halting_distribution_and_ponder():
    model = halting_avit()
    _, stats = model.forward_masked(torch.rand(5, 1, 8, 8))
    distribution = stats["halting_distribution"]
    assert distribution.shape == (4,)
    torch.testing.assert_close(distribution.sum(), torch.tensor(1.0))
    assert 1.0 <= stats["ponder"].item() <= 4.0 + 1.0
    torch.testing.assert_close(gaussian_prior(4, 3.0).sum(), torch.tensor(1.0))
    assert gaussian_prior(4, 3.0).argmax().item() == 2  # block 3, 1-indexed


def test_ponder_loss_teaches_tokens_to_halt():
    """A-ViT's mechanism at toy scale: minimising the ponder term lowers the kept tokens."""
    model = AViT(tiny_vit(3), gate_scale=10.0, gate_center=10.0)
    images = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    before = model.kept_tokens(images).float().mean()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(40):
        _, stats = model.forward_masked(images)
        loss = model.regulariser(stats, ponder_weight=1.0, prior_weight=0.0, prior_depth=1.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert model.kept_tokens(images).float().mean() < before - 1.0


def test_bad_ats_settings_are_rejected():
    with pytest.raises(ValueError, match="stages"):
        ATS(tiny_vit(), (7,))
    with pytest.raises(ValueError, match="budget"):
        ATS(tiny_vit(), (1,), budget=0.0)
    with pytest.raises(ValueError, match="compute mode"):
        with halting_avit().forced_compute("medium"):
            pass
