"""Generation cost: images per second an augmentation makes for a few-shot episode, timed here.

For a few-shot task (:class:`ucdbench.api.FewShotClassification`) and a scored model that
augments support sets (an ``augment`` method) and generates images (the outcome's
``extras["generates_images"]`` is true): the support set of the task's first episode is
augmented on the run's device as the task augments it when scoring (its support views), a
warm-up call first, then ``repeats`` calls, each synchronised
and timed by the hardware. Reported: images per episode, seconds per episode (median) and
images per second — on whatever device the run uses, so a CPU run and a CUDA run give the CPU
and the GPU figure. The two rates are timings (every timed call is kept, ``samples_ms``, for
``ucdbench compare``); the count of images is exact.
"""

from __future__ import annotations

from typing import Any

import torch

from ucdbench.api import (
    ChartAxis, Evaluation, EvaluationContext, FewShotClassification, FigureKind, Metric, PerPreset, Setting,
    percentile, time_calls,
)


class GenerationCost(Evaluation):
    name = "generation-cost"
    figures = (
        Metric("images_per_s", True, "images/s", "augmented images made per second (one episode's support set)",
               headline=True, kind=FigureKind.TIMING,
               chart=ChartAxis("generation", "images generated per second",
                               "{y} against generation throughput", log_scale=True)),
        Metric("s_per_episode", False, "s", "median seconds to augment one episode's support set",
               kind=FigureKind.TIMING),
        Metric("images_per_episode", None, "images", "augmented images added to one episode's support set",
               kind=FigureKind.EXACT),
    )
    settings = {"repeats": Setting(PerPreset(1, 3, 5), "timed augmentations of the episode", minimum=1)}

    def skip_reason(self, ctx: EvaluationContext) -> str | None:
        if not isinstance(ctx.task, FewShotClassification):
            return "not a few-shot task"
        if not hasattr(ctx.outcome.model, "augment") or not ctx.outcome.extras.get("generates_images"):
            return "the method adds no generated images to the support set"
        return None

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        model = ctx.outcome.model.to(ctx.device).eval()
        images, labels, classes = ctx.task.support_set(0)
        images = images.to(ctx.device)
        view, views = ctx.task.support_views()

        def augment() -> torch.Tensor:  # as the task augments it when scoring: its views, its count
            return model.augment(images, labels, classes, torch.Generator().manual_seed(0), view=view, views=views)[0]

        count = len(augment())
        timed = time_calls(augment, ctx.hardware, ctx.device, ctx.config["repeats"], warmup=0)
        median = percentile(timed.seconds, 50)
        return {"images_per_episode": count, "s_per_episode": median, "images_per_s": count / median,
                **timed.samples(), "repeats": len(timed.seconds), "threads": torch.get_num_threads()}
