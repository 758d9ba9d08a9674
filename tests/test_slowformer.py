"""SlowFormer: the patch stays a valid 8-bit image, is pasted only where it belongs, optimising
it raises the compute of an adaptive ViT (more than a random patch does, end to end), the A-ViT
objective keeps the target's own prior, and adversarial training lowers the attack's success."""

import json

import pytest
import torch

from conftest import run_cli
from ucdbench.contracts.interfaces import FitContext, UcdbenchError
from ucdbench_plugins.shared.adaptive_vit.avit import AViT, distribution_prior, halting_distribution, prior_kl
from ucdbench_plugins.methods.slowformer.losses import AVIT_PONDER_WEIGHT, AVIT_PRIOR_WEIGHT, compute_loss
from ucdbench.running.artifacts import read_artifact, write_artifact
from ucdbench.contracts.interfaces import Artifact, ArtifactKind
from ucdbench.running.runner import merge_config
from ucdbench_plugins.methods.slowformer.method import (SlowFormer, attack, attacked_model, load_target, new_patch,
                                                        target_config)
from ucdbench_plugins.shared.adaptive_vit.method import ATSMethod, AViTMethod
from ucdbench_plugins.methods.slowformer.patch import PatchTransform, patch_side, project_to_pixels
from tests.test_adaptive_vit import halting_avit, peaked_ats, tiny_vit


class RandomImages:
    """The part of an image task the attack uses: sizes and training batches."""

    image_size, in_chans = 8, 1

    def train_batches(self, batch_size, epochs):
        generator = torch.Generator().manual_seed(0)
        for _ in range(int(epochs)):
            yield torch.rand(batch_size, 1, 8, 8, generator=generator), torch.zeros(batch_size, dtype=torch.long)


def test_patch_side_matches_the_area():
    assert patch_side(224, 0.08) == 63  # 7.9% (the paper's 64x64 is 8.2%)
    assert patch_side(28, 0.08) == 8
    assert patch_side(8, 0.02) == 1
    with pytest.raises(ValueError):
        patch_side(28, 1.5)


def test_projection_gives_valid_8bit_pixels():
    projected = project_to_pixels(torch.randn(3, 5, 5) * 3)
    assert projected.min() >= 0 and projected.max() <= 1
    torch.testing.assert_close(projected * 255, (projected * 255).round())


@pytest.mark.parametrize("position, where", [("top-left", (slice(0, 3), slice(0, 3))),
                                             ("bottom-right", (slice(5, 8), slice(5, 8)))])
def test_patch_is_pasted_only_in_its_square(position, where):
    patch = torch.full((1, 3, 3), 0.5, requires_grad=True)
    transform = PatchTransform(patch, 8, position)
    images = torch.rand(2, 1, 8, 8)
    out = transform(images)
    inside = torch.zeros(8, 8, dtype=torch.bool)
    inside[where] = True
    assert (out[:, :, inside] == 0.5).all()
    torch.testing.assert_close(out[:, :, ~inside], images[:, :, ~inside])
    out.sum().backward()
    assert (transform.patch.grad == 2).all()  # each patch pixel lands in both images


@pytest.mark.parametrize("build", [halting_avit, peaked_ats])
def test_attack_raises_compute(build):
    torch.manual_seed(0)
    model = build()
    task = RandomImages()
    config = {**SlowFormer.defaults("smoke"), "area": 0.25, "epochs": 30, "batch_size": 16}
    ctx = FitContext(torch.device("cpu"), 0, "smoke", lambda items, **_: items)
    images = next(iter(task.train_batches(32, 1)))[0]
    start = new_patch(task, config, 0)  # the attack's own starting point
    before = model.kept_tokens(start(images)).float().sum(-1).mean()
    transform, loss = attack(model, task, config, ctx, "test")
    after = model.kept_tokens(transform(images)).float().sum(-1).mean()
    assert after > before
    assert all(p.requires_grad for p in model.parameters())  # unfrozen again
    torch.testing.assert_close(transform.patch, project_to_pixels(transform.patch))


def test_attack_objective_prefers_late_halting():
    images = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    early = halting_avit()
    late = AViT(early.vit, gate_scale=early.gate_scale, gate_center=early.gate_center + 1.0)
    assert late.kept_tokens(images).sum() > early.kept_tokens(images).sum()
    assert compute_loss(late, late.forward_masked(images)[1]) < compute_loss(early, early.forward_masked(images)[1])


def test_avit_attack_keeps_the_targets_own_prior():
    """The official attack: A-ViT's regulariser with the ponder weight negated, and the KL term
    against the prior A-ViT trained with (here centred at block 1), not at the last block."""
    model = AViT(tiny_vit(), gate_scale=3.0, gate_center=-1.0, target_depth=1)
    stats = model.forward_masked(torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(6)))[1]
    kl = prior_kl(halting_distribution(stats["layer_scores"]), distribution_prior(4, 1))
    expected = -AVIT_PONDER_WEIGHT * stats["ponder"] + (AVIT_PRIOR_WEIGHT * kl).clamp_min(0.0)
    torch.testing.assert_close(compute_loss(model, stats), expected)
    last = AViT(model.vit, gate_scale=3.0, gate_center=-1.0, target_depth=3)
    assert compute_loss(last, stats) != compute_loss(model, stats)


@pytest.mark.parametrize("setting, value", [("target", "adavit"), ("defense", "gaussian-blur"),
                                            ("position", "middle"), ("area", 1.2), ("area", 1.0), ("area", 0),
                                            ("target_settings", {"stages": "all"}),
                                            ("target_settings", {"halting": 1})])
def test_bad_settings_are_usage_errors_before_any_run(setting, value):
    with pytest.raises(UcdbenchError, match=setting):
        merge_config(SlowFormer, "smoke", {setting: value}, "method 'slowformer'")


def test_target_settings_are_the_target_methods_own_checked_by_its_settings():
    """Before the run a value passes when some target takes it; the chosen target's own
    settings decide in fit (ats has stages, avit has not)."""
    given = {"stages": [1, 2], "budget": 0.5}
    assert merge_config(SlowFormer, "paper", {"target_settings": given}, "slowformer")["target_settings"] == given
    assert target_config("ats", given, "paper", {}) == {**ATSMethod.defaults("paper"), **given}
    assert target_config("avit", {}, "small", {}) == AViTMethod.defaults("small")
    with pytest.raises(UcdbenchError, match="target_settings.*avit has no setting 'budget', 'stages'"):
        target_config("avit", given, "paper", {})
    with pytest.raises(UcdbenchError, match="budget=2"):
        target_config("ats", {"budget": 2}, "paper", {})


def test_the_target_follows_the_official_recipe_of_the_tasks_model():
    """The attacked A-ViT is the one a run of avit on the same task fits: on DeiT-Small the
    official Small recipe (β = 75), on DeiT-Tiny the Tiny one (β = 30); a given value wins."""
    small, tiny = {"model": "deit_small_patch16_224"}, {"model": "deit_tiny_patch16_224"}
    assert target_config("avit", {}, "paper", small)["gate_center"] == 75.0
    assert target_config("avit", {}, "paper", tiny)["gate_center"] == 30.0
    assert target_config("avit", {"gate_center": 40.0}, "paper", small)["gate_center"] == 40.0


def test_a_target_the_ats_objective_cannot_weigh_is_refused_before_anything_trains():
    """ATS's own default at 12 blocks has 9 stages and the objective 7 weights: the error says
    which setting fixes it, and comes before the target (or the task's base) is trained."""
    from timm.models.vision_transformer import VisionTransformer

    class DeepViTTask:
        name, config, seed = "deep", {}, 0

        def base_model(self, pretrained=True):
            assert not pretrained, "nothing may train before the stage count is checked"
            return VisionTransformer(img_size=8, patch_size=2, in_chans=1, num_classes=5, embed_dim=8, depth=12,
                                     num_heads=2)

    ctx = FitContext(torch.device("cpu"), 0, "paper", lambda items, **_: items)
    with pytest.raises(UcdbenchError, match="9 ATS stages.*target_settings"):
        load_target(DeepViTTask(), "ats", target_config("ats", {}, "paper", {}), ctx)


def test_slowformer_with_adversarial_training_builds_a_measurable_outcome(tmp_path):
    """fit → Outcome the harness can measure: the patch artifact rebuilds, the defended model
    differs from the undefended one, and flops-under-attack reports before and after. From the
    file and the task alone, the scored model comes back: the stored defended model, and, for
    an attack without the defence, the target its own method fits (the cached one)."""
    from ucdbench_plugins.evaluations.flops_under_attack import FlopsUnderAttack
    from ucdbench_plugins.evaluations.reconstruction import compare_states
    from ucdbench_plugins.hardware.cpu import CPU
    from ucdbench.contracts.interfaces import EvaluationContext
    from ucdbench_plugins.tasks.images.datasets import Digits

    task = Digits("smoke", 0, Digits.defaults("smoke"))
    task.prepare()
    task.eval_x, task.eval_y = task.eval_x[:16], task.eval_y[:16]
    ctx = FitContext(torch.device("cpu"), 0, "smoke", lambda items, **_: items)
    config = {**SlowFormer.defaults("smoke"), "defense": "adv-train"}
    outcome = SlowFormer().fit(task, config, ctx)
    rebuilt = outcome.reconstruct(outcome.artifact, torch.device("cpu"))
    # the complete state: the patch, the defended model it is scored against, stored whole, and the
    # patch that attacked the target before the defence
    assert set(rebuilt) == {"patch", "undefended_patch", *(f"target.{name}" for name in outcome.model.state_dict())}
    assert torch.equal(rebuilt["undefended_patch"], outcome.extras["undefended"]["input_transform"].patch)
    assert compare_states(outcome.scored_state(), rebuilt, torch.device("cpu"))["weights_equal"] is True
    assert tuple(rebuilt["patch"].shape) == (1, 2, 2)  # 8% of an 8x8 image
    undefended = outcome.extras["undefended"]["model"]
    assert any(not torch.equal(a, b) for a, b in zip(undefended.state_dict().values(),
                                                     outcome.model.state_dict().values()))
    write_artifact(tmp_path / "attack.safetensors", outcome.artifact)
    artifact = read_artifact(tmp_path / "attack.safetensors")
    defended = SlowFormer().rebuild_model(task, artifact, torch.device("cpu"))
    assert compare_states(outcome.model.state_dict(), defended.state_dict(), torch.device("cpu"))["weights_equal"]
    assert outcome.kind is artifact.kind is ArtifactKind.MODEL  # the defended model is this run's product
    images = task.eval_x[:4]
    torch.testing.assert_close(defended(images), outcome.model(images), rtol=0, atol=0)
    undefended_attack = Artifact({"patch": artifact.tensors["patch"]}, {**artifact.metadata, "defense": "none"})
    target = attacked_model(task, undefended_attack, torch.device("cpu"))
    assert compare_states(undefended.state_dict(), target.state_dict(), torch.device("cpu"))["weights_equal"]
    evaluation = FlopsUnderAttack()
    figures = evaluation.measure(EvaluationContext(task=task, outcome=outcome, hardware=CPU(),
                                                   device=torch.device("cpu"), preset="smoke",
                                                   config={**evaluation.defaults("smoke"), "samples": 2}))
    assert {"attack_success", "undefended_attack_success", "undefended_control_attack_success"} <= set(figures)


def test_an_attack_without_a_defence_is_an_input_transform_whose_clean_control_is_its_target(tmp_path):
    """The patch alone is the artifact (kept through its file): compression and the model's own
    figures are not measured on it, accuracy reports only the attacked figures, and the clean
    control names the target's row by its method and settings."""
    from ucdbench.running.measuring import kind_reason
    from ucdbench.contracts.interfaces import EvaluationContext
    from ucdbench_plugins.evaluations.accuracy import Accuracy
    from ucdbench_plugins.evaluations.compression import Compression
    from ucdbench_plugins.evaluations.knn import KNN
    from ucdbench_plugins.evaluations.flops_under_attack import FlopsUnderAttack
    from ucdbench_plugins.hardware.cpu import CPU
    from ucdbench_plugins.tasks.images.datasets import Digits

    task = Digits("smoke", 0, Digits.defaults("smoke"))
    task.prepare()
    task.eval_x, task.eval_y = task.eval_x[:16], task.eval_y[:16]
    ctx = FitContext(torch.device("cpu"), 0, "smoke", lambda items, **_: items)
    config = {**SlowFormer.defaults("smoke"), "target": "ats"}
    outcome = SlowFormer().fit(task, config, ctx)
    assert outcome.kind is ArtifactKind.INPUT_TRANSFORM
    write_artifact(tmp_path / "patch.safetensors", outcome.artifact)
    assert read_artifact(tmp_path / "patch.safetensors").kind is ArtifactKind.INPUT_TRANSFORM
    assert outcome.clean_control.method == "ats"
    assert dict(outcome.clean_control.settings) == target_config("ats", {}, "smoke", task.config)
    for skipped in (Compression(), KNN()):
        assert "input-transform" in kind_reason(skipped, outcome)
    assert kind_reason(FlopsUnderAttack(), outcome) is None
    evaluation = Accuracy()
    measured = EvaluationContext(task=task, outcome=outcome, hardware=CPU(), device=torch.device("cpu"),
                                 preset="smoke", config=evaluation.defaults("smoke"))
    names = [figure.name for figure in evaluation.declared_figures(measured)]
    assert names and all(name.endswith("_transformed") for name in names)
    assert set(evaluation.measure(measured)) == set(names)


@pytest.mark.ucdbench_e2e
def test_attack_beats_a_random_patch_and_the_defence_lowers_its_success(tmp_path):
    """Through the CLI, measured on held-out images: the optimised patch raises the A-ViT
    target's compute more than a random patch of the same size, and adversarial training
    lowers the attack's success. The smoke A-ViT (two blocks, two epochs) does not halt, so
    this runs the small digits preset with a shorter attack and defence and a 4x4 patch (a
    quarter of the 8x8 image; the default 8% is a single 2x2 token that moves the compute by a
    few percent): about 35 s on one CPU core, margins of about 6% of FLOPs and 25 points."""
    result = run_cli("run", "--method", "slowformer", "--task", "digits", "--preset", "small", "--seed", "0",
                     "--set", "defense=adv-train", "--set", "area=0.25", "--set", "epochs=3",
                     "--set", "defense_epochs=5", "--set", "eval.flops-under-attack.samples=32", results=tmp_path)
    assert result.returncode == 0, result.stderr
    [record_file] = (tmp_path / "runs").glob("*.json")
    figures = json.loads(record_file.read_text())["evaluations"]["flops-under-attack"]
    assert figures["undefended_attacked_flops_mean"] > figures["undefended_control_flops_mean"]
    assert figures["attack_success"] < figures["undefended_attack_success"]
