"""A-ViT and ATS: the masked (training) and dropping (inference) paths compute the same thing,
dropped tokens really leave the compute, the compute extremes bound the adaptive policy, and
A-ViT's halting, ACT weights, ponder cost, halting distribution, prior and KL term equal hand
computations of the official definitions."""

import math

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer

from ucdbench_plugins.tasks.imagenet.task import ImageNet
from ucdbench.running.artifacts import dense_model_outcome, read_artifact, write_artifact
from ucdbench.running.flops import count_flops
from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.running.runner import merge_config
from ucdbench_plugins.shared.adaptive_vit.method import CONSTANTS, ATSMethod, AViTMethod
from ucdbench_plugins.shared.adaptive_vit.ats import ATS, default_stages
from ucdbench_plugins.shared.adaptive_vit.avit import (AViT, HaltingState, default_target_depth, distribution_prior,
                                                 halting_distribution, prior_kl)


def tiny_vit(seed: int = 0) -> VisionTransformer:
    torch.manual_seed(seed)
    return VisionTransformer(img_size=8, patch_size=2, in_chans=1, num_classes=5, embed_dim=32, depth=4,
                             num_heads=2, mlp_ratio=2.0)


BARE_VIT_TASK = object()
"""Stands for a task whose base model is the ViT itself (it exposes no ``network_parts``)."""


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


def identity_avit(halting: list[float]) -> AViT:
    """An A-ViT whose blocks leave every token as it is and whose token k starts with first
    channel logit(halting[k]) (γ = 1, β = 0): token k scores halting[k] after every block."""
    vit = tiny_vit()
    with torch.no_grad():
        for block in vit.blocks:  # residual branches that add nothing
            for linear in (block.attn.proj, block.mlp.fc2):
                linear.weight.zero_()
                linear.bias.zero_()
        vit.patch_embed.proj.weight.zero_()
        vit.patch_embed.proj.bias.zero_()
        vit.cls_token.zero_()
        vit.pos_embed[0, :, 0] = torch.logit(torch.tensor(halting))
    return AViT(vit, gate_scale=1.0, gate_center=0.0, target_depth=2).eval()


def test_halting_by_hand():
    """17 tokens, 4 blocks; scores 0.6 (class token), 0.3 (one patch), 0.2 (the other 15).
    0.6: cumulative 0.6, 1.2 ≥ 0.99 → halts after block 2, remainder 0.4, ρ = 2 + 0.4.
    0.3: 0.3, 0.6, 0.9, then the last block halts it with remainder 0.1, ρ = 4.1.
    0.2: 0.2, 0.4, 0.6, last block, remainder 0.4, ρ = 4.4. The class token halts like any other."""
    model = identity_avit([0.6, 0.3] + [0.2] * 15)
    images = torch.rand(2, 1, 8, 8)
    logits, stats = model.forward_masked(images)
    assert stats["tokens_per_block"].tolist() == [[17, 17, 16, 16]] * 2
    torch.testing.assert_close(stats["ponder"], torch.tensor((2.4 + 4.1 + 15 * 4.4) / 17))
    # a halted token scores σ(−β) = 0.5 (the official code zeroes its state)
    torch.testing.assert_close(stats["layer_scores"], torch.tensor([3.9, 3.9, 3.8, 3.8]) / 17)
    # the head reads 0.6 · e + 0.4 · e of the unchanged class token e
    embedded = model.vit._pos_embed(model.vit.patch_embed(images))
    torch.testing.assert_close(logits, model.vit.forward_head(model.vit.norm(embedded[:, :1])))
    torch.testing.assert_close(model(images), logits)


def test_act_weights_and_ponder_by_hand():
    """One sample, two tokens, three blocks: the recurrence both forward paths share."""
    state = HaltingState.start(1, 2, torch.device("cpu"))
    weights = []
    for h in ([0.3, 0.1], [0.8, 0.2], [1.0, 1.0]):  # 1.0: the last block
        state, weight = state.step(torch.tensor([h]), eps=0.01)
        weights.append(weight[0].tolist())
    # token 0: 0.3 running, then cumulative 1.1 → halts with remainder 0.7; token 1 runs to the end
    torch.testing.assert_close(torch.tensor(weights), torch.tensor([[0.3, 0.1], [0.7, 0.2], [0.0, 0.7]]))
    torch.testing.assert_close(state.ponder, torch.tensor([[2 + 0.7, 3 + 0.7]]))
    assert not state.active.any()


def test_distribution_prior_and_kl_by_hand():
    # the official prior: unit Gaussian density over 0-based blocks at the target, scaled so
    # that the blocks before the target hold 0.98 — the whole need not sum to 1
    peak_over_side = math.exp(0.5)  # φ(0) / φ(1)
    torch.testing.assert_close(distribution_prior(3, 1), torch.tensor([0.98, 0.98 * peak_over_side, 0.98]))
    assert default_target_depth(12) == 8 and default_target_depth(4) == 2
    with pytest.raises(ValueError, match="target depth"):
        distribution_prior(4, 0)
    # per-block mean scores → normalised, then clamped to [0.01, 0.99] without renormalising
    torch.testing.assert_close(halting_distribution(torch.tensor([1.0, 3.0])), torch.tensor([0.25, 0.75]))
    torch.testing.assert_close(halting_distribution(torch.tensor([0.0, 2.0])), torch.tensor([0.01, 0.99]))
    # KLDivLoss(batchmean)(log q, p) = Σ p (log p − log q) / number of blocks: KL(prior ‖ halting)
    expected = (0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)) / 2
    torch.testing.assert_close(prior_kl(torch.tensor([0.25, 0.75]), torch.tensor([0.5, 0.5])),
                               torch.tensor(expected))


def test_regulariser_adds_the_prior_term_only_when_positive():
    model = identity_avit([0.5] * 17)
    stats = {"ponder": torch.tensor(3.0), "layer_scores": torch.tensor([0.1, 0.2, 0.3, 0.4])}
    kl = prior_kl(halting_distribution(stats["layer_scores"]), model.prior)
    assert kl > 0
    torch.testing.assert_close(model.regulariser(stats, 0.5, 2.0), 0.5 * 3.0 + 2.0 * kl)
    torch.testing.assert_close(model.regulariser(stats, 0.5, -2.0), torch.tensor(1.5))


def test_task_loss_trains_the_halting_scores():
    """The head reads the halting-weighted class token, so the task loss alone (no
    regulariser) has a gradient on the halting scores."""
    model = halting_avit().train()
    recorded = []
    score = model.halting_scores

    def recording(x):
        h = score(x)
        h.retain_grad()
        recorded.append(h)
        return h

    model.halting_scores = recording
    logits, _ = model.forward_masked(torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(5)))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    assert any(h.grad is not None and h.grad[:, 0].abs().sum() > 0 for h in recorded)


def test_ponder_loss_teaches_tokens_to_halt():
    """A-ViT's mechanism at toy scale: minimising the ponder term lowers the kept tokens."""
    model = AViT(tiny_vit(3), gate_scale=10.0, gate_center=10.0)
    images = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    before = model.kept_tokens(images).float().mean()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(40):
        _, stats = model.forward_masked(images)
        loss = model.regulariser(stats, ponder_weight=1.0, prior_weight=0.0)
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


class TinyViTTask:
    """The part of a task rebuilding uses: its seed and its (untrained) architecture."""

    seed = 5

    def base_model(self, pretrained=True):
        return tiny_vit(self.seed)


@pytest.mark.parametrize("method, model", [
    (AViTMethod, lambda: AViT(tiny_vit(), gate_scale=3.0, gate_center=-1.0, eps=0.05, target_depth=1)),
    (ATSMethod, lambda: ATS(tiny_vit(), (1, 3), budget=0.5)),
])
def test_the_artifact_file_and_the_task_rebuild_the_scored_model(method, model, tmp_path):
    """The constants that shape the model (A-ViT's gate and prior, ATS's stages and budget)
    travel in the artifact's metadata, so the file and the task's architecture rebuild the
    same adaptive model: same state, same constants, same (token-dropping) outputs."""
    scored = model().eval()
    outcome = dense_model_outcome(scored, {}, metadata={CONSTANTS: scored.constants()})
    write_artifact(tmp_path / "model.safetensors", outcome.artifact)
    rebuilt = method().rebuild_model(TinyViTTask(), read_artifact(tmp_path / "model.safetensors"), torch.device("cpu"))
    assert type(rebuilt) is type(scored) and rebuilt.constants() == scored.constants()
    assert not rebuilt.training
    assert rebuilt.state_dict().keys() == scored.state_dict().keys()
    assert all(torch.equal(rebuilt.state_dict()[k], v) for k, v in scored.state_dict().items())
    images = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(rebuilt(images), scored(images), rtol=0, atol=0)


def test_an_artifact_without_the_constants_is_refused_with_the_reason():
    outcome = dense_model_outcome(halting_avit(), {})
    with pytest.raises(UcdbenchError, match="adaptive_vit"):
        AViTMethod().rebuild_model(TinyViTTask(), outcome.artifact, torch.device("cpu"))


@pytest.mark.parametrize("method, setting, good, bad", [
    (ATSMethod, "stages", ["auto", [1, 2, 3], [0]], [[], [1, 1], [-1], ["1"], [1.0], "all", 3]),
    (ATSMethod, "budget", [1.0, 0.25, 1], [0, 0.0, 1.5, "auto"]),
    (AViTMethod, "target_depth", ["auto", 1, 8], [0, 2.5, "last"]),
    (AViTMethod, "epochs", [2, 0.5], [0, -1, "x"]),
])
def test_the_settings_say_what_is_valid(method, setting, good, bad):
    declared = method.settings[setting]
    assert [declared.problem(value) for value in good] == [None] * len(good)
    assert all(declared.problem(value) for value in bad)


def test_constants_a_model_refuses_are_the_users_to_fix():
    """Ranges that depend on the task (a block index below its depth) are checked when the
    model is built, as usage errors naming the method."""
    with pytest.raises(UcdbenchError, match="ats: ATS stages \\[7\\]"):
        ATSMethod().around(BARE_VIT_TASK, tiny_vit(), {"stages": [1, 7], "budget": 1.0})
    with pytest.raises(UcdbenchError, match="avit: .*target depth"):
        AViTMethod().around(BARE_VIT_TASK, tiny_vit(), {"gate_scale": 1.0, "gate_center": 0.0, "eps": 0.01, "target_depth": 4})


@pytest.mark.parametrize(("model", "official"), [
    # NVlabs/A-ViT README's commands (β = --gate_center, lr, 4 GPUs × --batch-size) and
    # main_act.py's default --weight-decay 0.05
    ("deit_tiny_patch16_224", {"gate_center": 30.0, "lr": 5e-4, "batch_size": 512, "weight_decay": 0.05}),
    ("deit_small_patch16_224", {"gate_center": 75.0, "lr": 3e-4, "batch_size": 384, "weight_decay": 0.05}),
])
def test_the_paper_preset_is_the_official_recipe_of_the_tasks_model(model, official):
    config = merge_config(AViTMethod, "paper", {}, "method 'avit'", {"model": model})
    assert {key: config[key] for key in official} == official
    assert {key: config[key] for key in ("gate_scale", "ponder_weight", "prior_weight")} == {
        "gate_scale": 10.0, "ponder_weight": 5e-4, "prior_weight": 1e-3}


def test_each_papers_figure_stands_beside_its_own_models_recipe_only():
    tiny, small = (merge_config(AViTMethod, "paper", {}, "avit", {"model": m})
                   for m in ("deit_tiny_patch16_224", "deit_small_patch16_224"))
    figures = {f.value: f for f in AViTMethod.reported}
    on = {"tiny": {**ImageNet.defaults("paper"), "model": "deit_tiny_patch16_224"},  # every image: the paper's setting
          "small": {**ImageNet.defaults("paper"), "model": "deit_small_patch16_224"}}
    assert figures[71.4].applies_to("imagenet", tiny, on["tiny"])
    assert figures[78.8].applies_to("imagenet", small, on["small"])
    assert not figures[78.8].applies_to("imagenet", tiny, on["small"])  # β = 30 on Small
    assert not figures[71.4].applies_to("imagenet", tiny, {**on["tiny"], "max_train_images": 1000})  # a subset is not it
