"""Backdoor attacks and the blocking defence: the trigger lands where it says, the attack
success rate never counts target-class images, gradient-weighted rollout of a tiny ViT equals a
hand computation of the official formula, the blocking box is where the official rule puts it
and removes a trigger the map finds, the hidden-trigger pairing is the official one, poisons
reach training at their share, and the method runs end to end through the CLI."""

from __future__ import annotations

import io
import json

import pytest
import timm.models.vision_transformer as timm_vit
import torch
import torch.nn.functional as F
from torch import nn

from conftest import run_cli
from ucdbench.api import Curves, UcdbenchError
from ucdbench_plugins.evaluations.targeted_attack import eval_images, percent, predictions
from ucdbench_plugins.methods.backdoor.finetune import official_finetune, step_decay_lr
from ucdbench_plugins.methods.backdoor.method import Backdoor
from ucdbench_plugins.methods.backdoor.poisons import (PoisonedTraining, epsilon_bound, hidden_trigger_poisons,
                                                      official_pairing)
from ucdbench_plugins.shared.local_images.task import NormalizedClassifier
from ucdbench_plugins.shared.backdoor.defence import (BlockDefence, black_out, blocking_boxes, box_sums,
                                                      boxes_overlap)
from ucdbench_plugins.shared.backdoor.figure import defence_figure
from ucdbench_plugins.shared.backdoor.saliency import gradcam_maps, rollout, saliency_maps
from ucdbench_plugins.shared.backdoor.trigger import TargetedAttack, TriggerPaste, trigger_origins, trigger_pattern


# -- the trigger -------------------------------------------------------------------------------


def test_the_trigger_lands_in_its_box_and_nowhere_else():
    pattern = trigger_pattern(3, 2, seed=10)
    assert set(pattern.unique().tolist()) == {0.0, 1.0}
    images = torch.full((6, 2, 10, 10), 0.5)
    triggered, boxes = TriggerPaste(pattern).paste(images)
    for image, (top, left, bottom, right) in zip(triggered, boxes.tolist()):
        assert (bottom - top, right - left) == (3, 3)
        assert torch.equal(image[:, top:bottom, left:right], pattern)
        outside = torch.ones(10, 10, dtype=torch.bool)
        outside[top:bottom, left:right] = False
        assert torch.all(image[:, outside] == 0.5)


def test_trigger_origins_span_the_official_range_and_repeat_per_batch():
    origins = trigger_origins(2000, 10, 3, seed=1)
    assert origins.min() == 0 and origins.max() == 10 - 3 - 1  # random.randint(0, W - s - 1)
    paste = TriggerPaste(trigger_pattern(3, 1, 0))
    images = torch.rand(4, 1, 10, 10)
    assert torch.equal(paste.paste(images)[1], paste.paste(images.flip(0))[1])  # re-seeded every batch
    with pytest.raises(ValueError):
        trigger_origins(1, 4, 4, seed=0)


# -- the attack success rate ---------------------------------------------------------------------


class LabelledImages:
    """The part of an image task the evaluation reads: labelled eval batches."""

    def __init__(self, labels: list[int]) -> None:
        self.labels = torch.tensor(labels)
        # each image's label is written in its bottom-right pixel, which no trigger reaches
        self.images = torch.zeros(len(labels), 1, 6, 6)
        self.images[:, 0, -1, -1] = self.labels.float() / 10

    def eval_batches(self, batch_size):
        for start in range(0, len(self.labels), batch_size):
            yield self.images[start:start + batch_size], self.labels[start:start + batch_size]


class ReadsTheLabel(nn.Module):
    """Classifies every image correctly, trigger or not."""

    def forward(self, x):
        return F.one_hot((x[:, 0, -1, -1] * 10).round().long(), 4).float()


def _asr(task, attack):
    _, _, counted = eval_images(task, attack, samples=100)
    return percent(predictions(ReadsTheLabel(), attack.trigger(counted), torch.device("cpu")) == attack.target_class)


def test_the_attack_success_rate_never_counts_target_class_images():
    task = LabelledImages([0, 1, 2, 3, 0, 0, 1, 2])
    trigger = TriggerPaste(trigger_pattern(2, 1, 0))
    every_other = TargetedAttack(target_class=0, source_classes=None, trigger=trigger)
    assert every_other.counts(task.labels).tolist() == [False, True, True, True, False, False, True, True]
    # a model the trigger does not move: no success, though three images are of the target class
    assert _asr(task, every_other) == 0.0
    one_source = TargetedAttack(target_class=0, source_classes=(2,), trigger=trigger)
    assert one_source.counts(task.labels).tolist() == [False, False, True, False, False, False, False, True]
    always_target = nn.Linear(1, 4)
    with torch.no_grad():
        always_target.weight.zero_()
        always_target.bias.copy_(torch.tensor([1.0, 0, 0, 0]))
    counted = eval_images(task, one_source, samples=100)[2]
    assert len(counted) == 2
    hits = predictions(lambda x: always_target(x[:, 0, 0, :1]), counted, torch.device("cpu")) == 0
    assert percent(hits) == 100.0


# -- gradient-weighted rollout -------------------------------------------------------------------


def test_rollout_is_the_official_formula_on_a_hand_example():
    """One layer, one head, a class token and two patches. fused = attention × gradient =
    [[1, .5, .3], [.4, 1.2, .7], [.2, .6, 1.1]]; discarding int(9 × 0.3) = 2 lowest zeroes .2
    and .3; a = (fused + I) / 2 = [[1, .25, 0], [.2, 1.1, .35], [0, .3, 1.05]] with row sums
    1.25, 1.65, 1.35; the official division puts entry (i, j) over row j's sum, so the class
    token's row over the patches is [.25 / 1.65, 0 / 1.35] (row 0's own sum would give .2)."""
    fused = torch.tensor([[1.0, 0.5, 0.3], [0.4, 1.2, 0.7], [0.2, 0.6, 1.1]])
    attention, gradient = (fused / 2)[None, None], torch.full((1, 1, 3, 3), 2.0)
    assert torch.allclose(rollout([attention], [gradient], 0.3), torch.tensor([[0.25 / 1.65, 0.0]]))


def tiny_vit() -> timm_vit.VisionTransformer:
    """Two blocks of two heads on 2 × 2 patches; a large head, so that attention × gradient is
    not lost beside the identity rollout adds."""
    torch.manual_seed(0)
    vit = timm_vit.VisionTransformer(img_size=4, patch_size=2, in_chans=1, num_classes=3, embed_dim=8, depth=2,
                                     num_heads=2, mlp_ratio=1.0, class_token=True, global_pool="token").eval()
    with torch.no_grad():
        vit.head.weight.mul_(1000)
    return vit


def hand_forward(vit, images):
    """The tiny ViT's forward written out, with each block's attention probabilities a leaf
    tensor of our own: returns the logits and those attentions."""
    x = vit.norm_pre(vit._pos_embed(vit.patch_embed(images)))
    attentions = []
    for block in vit.blocks:
        attn = block.attn
        qkv = attn.qkv(block.norm1(x)).reshape(x.shape[0], x.shape[1], 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        probabilities = ((q * attn.scale) @ k.transpose(-2, -1)).softmax(dim=-1).detach().requires_grad_(True)
        attentions.append(probabilities)
        heads = (probabilities @ v).transpose(1, 2).reshape(x.shape)
        x = x + attn.proj(heads)
        x = x + block.mlp(block.norm2(x))
    return vit.head(vit.norm(x)[:, 0]), attentions


def test_rollout_of_a_tiny_vit_equals_the_hand_computation():
    vit = tiny_vit()
    images = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    logits, attentions = hand_forward(vit, images)
    assert torch.allclose(logits, vit(images), atol=1e-3)
    score = logits.gather(1, logits.argmax(1, keepdim=True)).sum()
    gradients = list(torch.autograd.grad(score, attentions))

    def upsampled(patches):
        maps = patches.view(3, 2, 2)
        maps = maps / maps.amax(dim=(1, 2), keepdim=True)
        return F.interpolate(maps[:, None], size=(4, 4), mode="bilinear", align_corners=False)[:, 0]

    official = upsampled(rollout([a.detach() for a in attentions], gradients[::-1], 0.9))
    maps = saliency_maps(vit, images, 0.9)
    assert torch.allclose(maps, official, atol=1e-4)
    assert maps.amax(dim=(1, 2)).allclose(torch.ones(3))
    # the pairing matters: each layer with its own gradient gives another map
    assert not torch.allclose(maps, upsampled(rollout([a.detach() for a in attentions], gradients, 0.9)), atol=1e-2)
    assert all(layer.attn.fused_attn == timm_vit.use_fused_attn() for layer in vit.blocks)  # restored


def test_gradcam_reads_the_last_feature_map_larger_than_one_pixel():
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(2, 3)).eval()
    with torch.no_grad():  # positive features; class 0 predicted, weighing channel 0 up and channel 1 down
        cnn[0].weight.abs_()
        cnn[4].weight.copy_(torch.tensor([[1.0, -0.5], [0.0, 0.0], [0.0, 0.0]]))
        cnn[4].bias.copy_(torch.tensor([10.0, 0.0, 0.0]))
    images = torch.rand(2, 1, 4, 4)
    features = cnn[1](cnn[0](images))
    weights = torch.tensor([1.0, -0.5]) / 16  # d score / d feature = w_c / (h·w) at every pixel
    cam = (weights[None, :, None, None] * features).sum(1).clamp(min=0)
    assert (cam > 0).any(dim=(1, 2)).all() and (cam == 0).any()
    expected = cam / cam.amax(dim=(1, 2), keepdim=True)
    assert torch.allclose(gradcam_maps(cnn, images), expected.detach(), atol=1e-6)


# -- the blocking defence ------------------------------------------------------------------------


def test_the_box_is_where_the_official_rule_puts_it():
    """A single hot pixel at (5, 6), trigger side 2: the window is 3 wide and starts one pixel
    before its centre, so centres 4..6 (rows) and 5..7 (columns) all reach the pixel; the first
    arg-max is (4, 5) and the box starts one pixel before it: rows 3–4, columns 4–5."""
    maps = torch.zeros(1, 8, 8)
    maps[0, 5, 6] = 1.0
    assert box_sums(maps, 2)[0, 4:7, 5:8].eq(1).all() and box_sums(maps, 2).sum() == 9
    assert blocking_boxes(maps, 2).tolist() == [[3, 4, 5, 6]]
    maps = torch.zeros(1, 8, 8)
    maps[0, 0, 7] = 1.0  # side 3: the window is 4 wide from its centre − 1; centres 0–1 and 5–7 reach
    assert blocking_boxes(maps, 3).tolist() == [[0, 4, 3, 7]]  # (0, 5) → rows −1… shifted inside to 0–2


@pytest.mark.parametrize("side", [2, 3])
def test_blocking_removes_a_trigger_the_map_finds(side):
    """A map hot on the trigger and the row and column past it (the official window is one
    wider than the trigger) puts the box exactly on the trigger: every trigger pixel is black."""
    images = torch.full((4, 1, 9, 9), 0.5)
    triggered, trigger_boxes = TriggerPaste(torch.ones(1, side, side)).paste(images)
    maps = torch.zeros(4, 9, 9)
    for i, (top, left, _, _) in enumerate(trigger_boxes.tolist()):
        maps[i, top:top + side + 1, left:left + side + 1] = 1.0
    boxes = blocking_boxes(maps, side)
    assert torch.equal(boxes, trigger_boxes)
    blocked = black_out(triggered, boxes)
    for image, (top, left, bottom, right) in zip(blocked, trigger_boxes.tolist()):
        assert torch.all(image[:, top:bottom, left:right] == 0)
        assert image.sum() == 0.5 * (81 - side * side)
    assert boxes_overlap(boxes, trigger_boxes).all()
    assert not boxes_overlap(torch.tensor([[0, 0, 2, 2]]), torch.tensor([[2, 0, 4, 2]])).any()  # edges touch only


def test_the_block_defence_blacks_out_one_box_per_image_and_draws_it():
    vit = tiny_vit()
    images = torch.rand(2, 1, 4, 4) + 0.1
    defended = BlockDefence()(vit, images, side=2)
    assert [(image == 0).sum().item() for image in defended.images] == [4, 4]
    png = defence_figure(images, defended.maps, defended.images, defended.boxes, defended.boxes, ["a", "b"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    assert imread(io.BytesIO(png)).shape[:2] == (400, 600)  # 2 rows of 3 panels at 100 dpi


# -- poisons -------------------------------------------------------------------------------------


def test_hidden_trigger_pairing_is_the_official_greedy_one():
    """Distances of sources (rows) to poisons (columns) [[0, 5], [1, 9]]: the two smallest
    entries, ascending, are (0, 0) then (1, 0); both write column 0, the last wins, and poison 1
    keeps source row 1 — source 0 is paired with nothing."""
    sources = torch.tensor([[0.0], [1.0]])
    poisons = torch.tensor([[0.0], [5.0]])
    assert official_pairing(sources, poisons).tolist() == [[1.0], [1.0]]


class TinyTraining:
    def train_batches(self, batch_size, epochs):
        for _ in range(int(epochs) * 3):
            yield torch.zeros(batch_size, 1), torch.zeros(batch_size, dtype=torch.long)

    def loss(self, model, batch, device):
        return model(batch[0]).sum()


def test_every_poison_is_seen_once_per_epoch():
    poisons, labels = torch.arange(5.0)[:, None], torch.ones(5, dtype=torch.long)
    batches = list(PoisonedTraining(TinyTraining(), poisons, labels, seed=0).train_batches(4, epochs=2))
    seen = torch.cat([x[4:, 0] for x, _ in batches])
    assert sorted(seen.tolist()) == sorted(2 * list(range(5)))
    assert all(torch.equal(y[4:], torch.ones(len(y) - 4, dtype=torch.long)) for _, y in batches)


def test_the_method_refuses_classes_the_task_has_not():
    class FiveClasses:
        name, num_classes, image_size, in_chans = "digits", 5, 8, 1

    config = Backdoor.defaults("smoke")
    with pytest.raises(UcdbenchError, match="label ids"):
        Backdoor._attack(FiveClasses(), {**config, "target_class": 7})
    with pytest.raises(UcdbenchError, match="cannot be a source"):
        Backdoor._attack(FiveClasses(), {**config, "source_classes": [0]})
    with pytest.raises(UcdbenchError, match="smaller than"):
        Backdoor._attack(FiveClasses(), {**config, "trigger_size": 8})


def test_hidden_poisons_keep_the_official_bound_in_the_networks_input_space():
    """The official ε is clamped in ImageNet-normalised units: in pixels it is ε · std per
    channel where the network normalises its input, ε where it takes pixels as they are."""
    std = (0.229, 0.224, 0.225)
    net = timm_vit.VisionTransformer(img_size=16, patch_size=8, embed_dim=8, depth=1, num_heads=2, num_classes=3)
    normalised = NormalizedClassifier(net, (0.485, 0.456, 0.406), std)
    assert torch.allclose(epsilon_bound(normalised, 16 / 255).flatten(), torch.tensor(std) * 16 / 255)
    assert float(epsilon_bound(nn.Sequential(nn.Flatten(), nn.Linear(3, 3)), 16 / 255)) == pytest.approx(16 / 255)
    torch.manual_seed(0)
    targets, sources = torch.rand(4, 3, 16, 16) * 0.5 + 0.25, torch.rand(4, 3, 16, 16)
    poisons = hidden_trigger_poisons(normalised, normalised.head, targets, sources, TriggerPaste(torch.ones(3, 4, 4)),
                                     epsilon=16 / 255, steps=5, lr=10.0, batch=4)
    reach = (poisons - targets).abs().amax(dim=(0, 2, 3))
    assert torch.all(reach <= torch.tensor(std) * 16 / 255 + 1e-6)
    assert torch.allclose(reach, torch.tensor(std) * 16 / 255, atol=1e-6)  # a large step reaches the bound


def test_the_official_sgd_loop_decays_tenfold_every_ten_epochs_and_trains():
    assert [step_decay_lr(1e-3, e) for e in (0, 9, 10, 20)] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-5])
    torch.manual_seed(0)
    model = nn.Linear(1, 1, bias=False)
    nn.init.constant_(model.weight, 1.0)

    class Context:
        device = torch.device("cpu")
        curves = Curves()

        @staticmethod
        def progress(items, **_):
            return items

    training = PoisonedTraining(TinyTraining(), torch.zeros(0, 1), torch.zeros(0, dtype=torch.long), seed=0)
    training.task.loss = lambda m, batch, device: (m(torch.ones(1, 1)) ** 2).sum()
    metrics = official_finetune(model, training, Context(), params=model.parameters(), epochs=2, lr=0.1,
                                batch_size=2, weight_decay=0.0)
    assert metrics["train_steps"] == 6
    assert [epoch for epoch, _ in Context.curves.as_dict()["train_loss"]] == [1.0, 2.0]
    assert abs(model.weight.item()) < 1.0  # SGD stepped down the loss w²


def test_the_paper_preset_is_the_official_recipe():
    paper = Backdoor.defaults("paper")
    assert (paper["variant"], paper["optimiser"], paper["finetune"]) == ("hidden", "sgd", "head")
    assert (paper["lr"], paper["epochs"], paper["batch_size"], paper["weight_decay"]) == (1e-3, 10, 64, 0.0)
    assert (paper["trigger_size"], paper["epsilon"], paper["poison_steps"]) == (30, 16 / 255, 5000)


# -- end to end ----------------------------------------------------------------------------------


@pytest.mark.ucdbench_e2e
@pytest.mark.parametrize("variant", ["badnets", "hidden"])
def test_backdoor_runs_end_to_end_and_the_harness_measures_it(tmp_path, variant):
    result = run_cli("run", "--method", "backdoor", "--task", "digits", "--preset", "smoke", "--seed", "0",
                     "--set", f"variant={variant}", results=tmp_path)
    assert result.returncode == 0, result.stderr
    [record_file] = (tmp_path / "runs").glob("*.json")
    record = json.loads(record_file.read_text())
    figures = record["evaluations"]["targeted-attack"]
    assert {"asr", "blocked_asr", "clean_top1", "blocked_clean_top1", "localisation_rate"} <= set(figures)
    assert figures["saliency"] == "rollout" and figures["triggered_images"] > 0
    assert "top1_transformed" in record["evaluations"]["accuracy"]
    assert record["evaluations"]["reconstruction"]["weights_equal"]
    [attachment] = record["attachments"]
    assert (tmp_path / attachment["file"]).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.ucdbench_e2e
def test_a_poison_rate_that_makes_no_poison_is_refused_before_the_run(tmp_path):
    """digits' smoke training split has 627 images: 1e-4 of it rounds to no poison (the run
    would silently be a clean one); 0 is the clean control and runs."""
    refused = run_cli("run", "--method", "backdoor", "--task", "digits", "--preset", "smoke", "--seed", "0",
                      "--set", "poison_rate=0.0001", results=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "= 0 poisons on the 627 training images" in refused.stderr
    assert "poison_rate ≥ 0.00159" in refused.stderr and "poison_rate=0 for the clean control" in refused.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    control = run_cli("run", "--method", "backdoor", "--task", "digits", "--preset", "smoke", "--seed", "0",
                      "--set", "poison_rate=0", "--set", "eval.targeted-attack.defence=none", results=tmp_path)
    assert control.returncode == 0, control.stderr
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert record["method_metrics"]["poisons"] == 0
