"""Targeted attack: how often a trigger sends inputs to the attacker's class, and what an input
defence changes.

Applies to an Outcome whose ``extras["targeted_attack"]`` is a
:class:`ucdbench_plugins.shared.backdoor.trigger.TargetedAttack` (target class, the classes
whose triggered images count, the trigger and where it lands) on an image-classification task.
On the task's labelled eval images (``ImageClassification.eval_batches``), at most ``samples``
of each kind:

- ``asr``: attack success rate, the share of triggered eval images whose true class is a
  counted (source) class — never the target — that the model classifies as the target. The
  official code's figure is the same over triggered source-class validation images
  (``finetune_transformer.py``, phase ``patched``: every label there is the target's);
- ``clean_top1``: top-1 on the clean eval images;
- with ``defence`` (default ``block``, :mod:`ucdbench_plugins.shared.backdoor.defence`), the
  same after the defence on both (``blocked_asr``, ``blocked_clean_top1``), as the official
  ``test_time_defense.py`` blocks triggered and clean test images alike; ``localisation_rate``,
  the share of triggered images whose blocked box shares a pixel with the trigger; and which
  map chose the box (``saliency``: rollout on a ViT, GradCAM otherwise).

A PNG of a few triggered images with their map and blocked box is attached to the run.
"""

from __future__ import annotations

from typing import Any

import torch

from ucdbench.api import Evaluation, EvaluationContext, ImageClassification, Metric, PerPreset, Setting
from ucdbench_plugins.shared.backdoor.defence import INPUT_DEFENCES, boxes_overlap
from ucdbench_plugins.shared.backdoor.figure import defence_figure
from ucdbench_plugins.shared.backdoor.saliency import saliency_method
from ucdbench_plugins.shared.backdoor.trigger import TargetedAttack

CHUNK = 64
"""Images per forward (and, for the defence, backward) pass."""


def eval_images(task: ImageClassification, attack: TargetedAttack, samples: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first ``samples`` eval images and labels, and the first ``samples`` of the images the
    attack counts (source classes, target excluded)."""
    clean_x, clean_y, counted = [], [], []
    kept = counted_kept = 0
    for x, y in task.eval_batches(256):
        if kept < samples:
            clean_x.append(x[:samples - kept])
            clean_y.append(y[:samples - kept])
            kept += len(clean_x[-1])
        if counted_kept < samples:
            counted.append(x[attack.counts(y)][:samples - counted_kept])
            counted_kept += len(counted[-1])
        if kept >= samples and counted_kept >= samples:
            break
    return torch.cat(clean_x), torch.cat(clean_y), torch.cat(counted)


def predictions(model: torch.nn.Module, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(images[i:i + CHUNK].to(device)).argmax(dim=1).cpu() for i in range(0, len(images), CHUNK)])


def defended(defence: Any, model: torch.nn.Module, images: torch.Tensor, side: int, device: torch.device):
    """The defence over ``images`` in chunks: (blocked images, boxes, maps), on CPU."""
    parts = [defence(model, images[i:i + CHUNK].to(device), side) for i in range(0, len(images), CHUNK)]
    return (torch.cat([p.images.cpu() for p in parts]), torch.cat([p.boxes.cpu() for p in parts]),
            torch.cat([p.maps.cpu() for p in parts]))


def percent(hits: torch.Tensor) -> float:
    return 100.0 * float(hits.float().mean()) if len(hits) else float("nan")


class TargetedAttackEvaluation(Evaluation):
    name = "targeted-attack"
    figures = (
        Metric("asr", None, "%", "attack success rate: triggered images of the source classes (never the target) "
               "classified as the target; higher is the attacker's win", headline=True),
        Metric("blocked_asr", None, "%", "attack success rate after the input defence; lower is the defender's win"),
        Metric("clean_top1", True, "%", "top-1 on the clean eval images"),
        Metric("blocked_clean_top1", True, "%", "top-1 on the clean eval images after the input defence"),
        Metric("localisation_rate", True, "%", "triggered images whose blocked box overlaps the trigger"),
    )
    settings = {
        "samples": Setting(PerPreset(32, 1000, 5000), "at most this many clean eval images, and as many triggered "
                                                      "images of the counted classes", minimum=1),
        "defence": Setting("block", "the input defence applied before the model sees an input ('none': no "
                                    "defence figures)", choices=(*INPUT_DEFENCES, "none")),
        "discard_ratio": Setting(0.9, "attention rollout: share of each layer's lowest fused attentions set to 0 "
                                      "(the official 0.9)", minimum=0, maximum=1),
        "figure_images": Setting(4, "triggered images drawn in the attached PNG (0: none)", minimum=0),
    }

    def skip_reason(self, ctx: EvaluationContext) -> str | None:
        if not isinstance(ctx.outcome.extras.get("targeted_attack"), TargetedAttack):
            return "the outcome carries no targeted attack (extras['targeted_attack'])"
        if not isinstance(ctx.task, ImageClassification):
            return "the task is not an image-classification task"
        return None

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        attack: TargetedAttack = ctx.outcome.extras["targeted_attack"]
        model, device, config = ctx.outcome.model.to(ctx.device).eval(), ctx.device, ctx.config
        clean_x, clean_y, source_x = eval_images(ctx.task, attack, config["samples"])
        triggered, trigger_boxes = attack.trigger.paste(source_x)
        results: dict[str, Any] = {
            "asr": percent(predictions(model, triggered, device) == attack.target_class),
            "clean_top1": percent(predictions(model, clean_x, device) == clean_y),
            "triggered_images": len(triggered), "clean_images": len(clean_x),
        }
        if config["defence"] == "none":
            return results
        defence = INPUT_DEFENCES[config["defence"]](discard_ratio=config["discard_ratio"])
        side = attack.trigger.side
        blocked, boxes, maps = defended(defence, model, triggered, side, device)
        blocked_clean = defended(defence, model, clean_x, side, device)[0]
        results.update({
            "blocked_asr": percent(predictions(model, blocked, device) == attack.target_class),
            "blocked_clean_top1": percent(predictions(model, blocked_clean, device) == clean_y),
            "localisation_rate": percent(boxes_overlap(boxes, trigger_boxes)),
            "saliency": saliency_method(model),
        })
        shown = min(config["figure_images"], len(triggered))
        if shown:
            titles = [f"trigger {trigger_boxes[i].tolist()[:2]}" for i in range(shown)]
            caption = (f"{shown} triggered eval images: trigger (green) and the box the {results['saliency']} map "
                       "blocked (red); the map; the blocked image")
            ctx.attach("blocking.png", defence_figure(triggered[:shown], maps[:shown], blocked[:shown],
                                                      trigger_boxes[:shown], boxes[:shown], titles), caption)
        return results
