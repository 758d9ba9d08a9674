"""The targeted-attack evaluation's figures on a hand-made task, model and defence whose answers
are counted by hand: the attack success rate and its clean control, the same after blocking, and
how often the blocked box finds the trigger. Small enough for mutation testing
(docs/development.md).

The images are 1×3×3 and the trigger a 2×2 block of ones: a trigger of side 2 on a 3-pixel image
always lands at the top-left corner (its corner is drawn from 0 … 3 − 2 − 1), box (0, 0, 2, 2).
Each image's bottom-right pixel, which no trigger reaches, holds a *marker* m/10; the model
predicts class m, or the target (class 1) where the whole trigger is there and m ≠ 3 (class-3
images resist the trigger). The labels are the task's own, so the model can be wrong.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ucdbench_plugins.evaluations.targeted_attack as targeted_attack
from ucdbench.api import EvaluationContext, ImageClassification, Outcome
from ucdbench_plugins.evaluations.targeted_attack import TargetedAttackEvaluation, eval_images, percent
from ucdbench_plugins.hardware.cpu import CPU
from ucdbench_plugins.shared.backdoor.defence import Defended, black_out
from ucdbench_plugins.shared.backdoor.trigger import TargetedAttack, TriggerPaste

CPU_DEVICE = torch.device("cpu")
TARGET = 1
LABELS = [0, 1, 2, 3, 2, 2, 3, 3]
MARKERS = [0, 1, 2, 3, 0, 2, 3, 3]  # the model's class for each clean image: image 4 (label 2) is misread as 0
BATCH = 3  # the task hands out at most 3 images per batch, so reading 8 takes 3 batches


def images(markers: list[int]) -> torch.Tensor:
    x = torch.zeros(len(markers), 1, 3, 3)
    x[:, 0, 2, 2] = torch.tensor(markers, dtype=torch.float) / 10
    return x


class MarkedImages(ImageClassification):
    """Eval batches of :data:`LABELS`, each image carrying its marker; counts the batches read."""

    def __init__(self) -> None:
        self.x, self.y, self.batches_read = images(MARKERS), torch.tensor(LABELS), 0

    def num_classes(self) -> int:
        return 4

    def architecture(self) -> str:
        return "marker-reader"

    def eval_batches(self, batch_size):
        step = min(batch_size, BATCH)
        for start in range(0, len(self.y), step):
            self.batches_read += 1
            yield self.x[start:start + step], self.y[start:start + step]


class ReadsTheMarker(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("ten", torch.tensor([10.0]))  # on the model's device: inputs elsewhere fail

    def forward(self, x):
        marker = (x[:, 0, 2, 2] * self.ten).round().long()
        triggered = (x[:, 0, :2, :2] == 1).flatten(1).all(dim=1) & (marker != 3)
        return F.one_hot(torch.where(triggered, TARGET, marker), 4).float()


class MarkerBoxes:
    """A defence whose box is chosen by the marker: m = 0 → the trigger's own box (trigger gone);
    m = 1 or 2 → (2, 2, 4, 4), away from the trigger, blanking the marker (class 0 after); m = 3 →
    (1, 1, 3, 3), one pixel of the trigger (trigger broken, localised) and the marker. Records what
    it was built with and called on (the model too: it runs it, so the images must be on its device)."""

    BOXES = {0: [0, 0, 2, 2], 1: [2, 2, 4, 4], 2: [2, 2, 4, 4], 3: [1, 1, 3, 3]}
    built: list[float] = []
    calls: list[tuple[int, int]] = []
    models: list[nn.Module] = []

    def __init__(self, discard_ratio: float) -> None:
        MarkerBoxes.built.append(discard_ratio)

    def __call__(self, model, x, side):
        MarkerBoxes.calls.append((len(x), side))
        MarkerBoxes.models.append(model)
        model(x)
        boxes = torch.tensor([self.BOXES[m] for m in (x[:, 0, 2, 2] * 10).round().long().tolist()])
        return Defended(black_out(x, boxes), boxes, x[:, 0] + 0.5)


@pytest.fixture
def marker_defence(monkeypatch):
    MarkerBoxes.built, MarkerBoxes.calls, MarkerBoxes.models = [], [], []
    monkeypatch.setitem(targeted_attack.INPUT_DEFENCES, "block", MarkerBoxes)
    return MarkerBoxes


def attack(source_classes=None) -> TargetedAttack:
    return TargetedAttack(target_class=TARGET, source_classes=source_classes, trigger=TriggerPaste(torch.ones(1, 2, 2)))


def context(task=None, outcome=None, **config) -> EvaluationContext:
    outcome = outcome or Outcome(model=ReadsTheMarker(), extras={"targeted_attack": attack()})
    return EvaluationContext(task=task or MarkedImages(), outcome=outcome, hardware=CPU(), device=CPU_DEVICE,
                             preset="smoke", config={**TargetedAttackEvaluation.defaults("smoke"), **config})


def test_the_figures_of_a_known_model_and_defence_are_the_hand_counts(marker_defence):
    ctx = context(samples=8, figure_images=0, discard_ratio=0.25)
    figures = TargetedAttackEvaluation().measure(ctx)
    # clean: every marker is the label but image 4's → 7 of 8
    # triggered: the 7 images not labelled 1 (markers 0 2 3 0 2 3 3); those of marker ≠ 3 go to the target → 4 of 7
    # blocked: marker 0 loses the trigger (class 0), marker 3 a trigger pixel (class 0), marker 2 keeps it → 2 of 7
    # blocked clean: every box but marker 0's blanks the marker → class 0 everywhere, right only for image 0 → 1 of 8
    # localised: the boxes of markers 0 and 3 overlap the trigger's (0, 0, 2, 2), marker 2's does not → 5 of 7
    assert figures == {"asr": pytest.approx(400 / 7), "clean_top1": 87.5, "triggered_images": 7, "clean_images": 8,
                       "blocked_asr": pytest.approx(200 / 7), "blocked_clean_top1": 12.5,
                       "localisation_rate": pytest.approx(500 / 7), "saliency": "gradcam"}
    assert marker_defence.built == [0.25]  # the setting, passed on
    assert marker_defence.calls == [(7, 2), (8, 2)]  # triggered then clean, with the trigger's side
    assert marker_defence.models == [ctx.outcome.model] * 2  # the model under attack, on both
    assert ctx.attached == {}


def test_the_source_classes_restrict_the_triggered_images(marker_defence):
    outcome = Outcome(model=ReadsTheMarker(), extras={"targeted_attack": attack(source_classes=(3,))})
    figures = TargetedAttackEvaluation().measure(context(outcome=outcome, samples=8, defence="none"))
    # the three class-3 images all resist the trigger; with no defence no defence figure
    assert figures == {"asr": 0.0, "clean_top1": 87.5, "triggered_images": 3, "clean_images": 8}
    assert marker_defence.built == []


@pytest.mark.parametrize("samples, clean, counted, read", [
    (3, [0, 1, 2], [0, 2, 3], 2),  # batch 1 fills the clean images, batch 2 the counted (its first one)
    (5, [0, 1, 2, 3, 4], [0, 2, 3, 4, 5], 2),
    (6, [0, 1, 2, 3, 4, 5], [0, 2, 3, 4, 5, 6], 3),  # the counted images need a third batch, the clean not
    (100, list(range(8)), [0, 2, 3, 4, 5, 6, 7], 3),  # fewer than asked: all there are
])
def test_eval_images_take_the_first_of_each_kind_and_stop_reading(samples, clean, counted, read):
    task = MarkedImages()
    clean_x, clean_y, counted_x = eval_images(task, attack(), samples)
    assert torch.equal(clean_x, task.x[clean]) and torch.equal(clean_y, task.y[clean])
    assert torch.equal(counted_x, task.x[counted])
    assert task.batches_read == read


def test_a_small_sample_gives_the_figures_of_its_first_images(marker_defence):
    figures = TargetedAttackEvaluation().measure(context(samples=3, figure_images=0))
    # clean images 0 1 2, all right; triggered images 0 2 3 (markers 0 2 3): 0 and 2 go to the target
    assert figures["clean_top1"] == 100.0 and figures["asr"] == pytest.approx(200 / 3)
    # blocked: marker 2 keeps its trigger → 1 of 3; clean: only image 0 stays right → 1 of 3
    assert figures["blocked_asr"] == pytest.approx(100 / 3) and figures["blocked_clean_top1"] == pytest.approx(100 / 3)
    assert figures["localisation_rate"] == pytest.approx(200 / 3)
    assert (figures["triggered_images"], figures["clean_images"]) == (3, 3)
    assert marker_defence.built == [0.9]  # the official discard ratio by default


def test_percent_is_the_share_of_hits_and_nan_without_any():
    assert percent(torch.tensor([True, False, False, True, True])) == pytest.approx(60.0)
    assert math.isnan(percent(torch.tensor([], dtype=torch.bool)))


@pytest.mark.parametrize("asked, shown", [(2, 2), (100, 7)])
def test_the_figure_draws_the_first_triggered_images_with_their_boxes(marker_defence, monkeypatch, asked, shown):
    drawn = []
    monkeypatch.setattr(targeted_attack, "defence_figure", lambda *parts: drawn.append(parts) or b"PNG")
    ctx = context(samples=8, figure_images=asked)
    TargetedAttackEvaluation().measure(ctx)
    (triggered, maps, blocked, trigger_boxes, boxes, titles), = drawn
    counted = [0, 2, 3, 4, 5, 6, 7][:shown]
    expected = images(MARKERS)[counted]
    expected[:, 0, :2, :2] = 1.0
    assert torch.equal(triggered, expected)
    assert torch.equal(maps, expected[:, 0] + 0.5)  # the defence's maps of the triggered images
    box_of = MarkerBoxes.BOXES
    assert boxes.tolist() == [box_of[MARKERS[i]] for i in counted]
    assert torch.equal(blocked, black_out(expected, boxes))
    assert trigger_boxes.tolist() == [[0, 0, 2, 2]] * shown
    assert titles == ["trigger [0, 0]"] * shown
    (name, attachment), = ctx.attached.items()
    assert name == "blocking.png" and attachment.data == b"PNG"
    assert attachment.caption == (f"{shown} triggered eval images: trigger (green) and the box the gradcam map "
                                  "blocked (red); the map; the blocked image")


def test_the_evaluation_applies_only_to_a_targeted_attack_on_an_image_classifier():
    evaluation = TargetedAttackEvaluation()
    assert evaluation.skip_reason(context()) is None
    no_attack = Outcome(model=ReadsTheMarker(), extras={"targeted_attack": "not an attack"})
    assert evaluation.skip_reason(context(outcome=no_attack)) == \
        "the outcome carries no targeted attack (extras['targeted_attack'])"
    assert evaluation.skip_reason(context(outcome=Outcome(model=ReadsTheMarker()))) == \
        "the outcome carries no targeted attack (extras['targeted_attack'])"
    not_images = context(task=object())
    assert evaluation.skip_reason(not_images) == "the task is not an image-classification task"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_figures_are_the_same_on_the_evaluation_s_device(marker_defence):
    """The model goes to the evaluation's device and every image to the model (on CPU the
    device plumbing cannot be told apart from none: this is where it is checked)."""
    cuda = EvaluationContext(task=MarkedImages(), outcome=Outcome(model=ReadsTheMarker(), extras={"targeted_attack": attack()}),
                             hardware=CPU(), device=torch.device("cuda"), preset="smoke",
                             config={**TargetedAttackEvaluation.defaults("smoke"), "samples": 8, "figure_images": 0})
    assert TargetedAttackEvaluation().measure(cuda) == TargetedAttackEvaluation().measure(context(samples=8, figure_images=0))
