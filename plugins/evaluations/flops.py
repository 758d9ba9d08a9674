"""FLOPs: per-sample forward FLOPs of the scored model on real eval inputs.

Counted by ``torch.utils.flop_counter.FlopCounterMode`` on the shapes the model really runs
with, so tokens a model drops are saved compute and tokens it only masks are not (see
:func:`ucdbench.api.count_flops`, which also gives CPU attention its formula). FLOPs = 2 × multiply-adds;
``macs`` is what fvcore and most papers report as "FLOPs".

The figures are exact (:class:`FigureKind`: two runs of one setting must agree to the last
digit) unless the model's compute depends on its input: an outcome that exposes its compute
extremes (``extras["force_compute"]``, as the adaptive ViTs do) drops tokens per sample as its
training taught it, so its FLOPs vary with the seed and are compared like accuracy.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from ucdbench.api import (
    ArtifactKind, ChartAxis, Evaluation, EvaluationContext, FLOPS_CONVENTION, FigureKind, Metric, PerPreset, Setting,
    count_flops,
)


def forward_flops_per_sample(task, model: torch.nn.Module, inputs: Any, batch_size: int) -> dict[str, Any]:
    """Per-sample forward FLOPs of ``model`` on ``inputs`` (a batch of ``batch_size``)."""
    model.eval()
    with torch.no_grad():
        counted = count_flops(lambda: task.forward(model, inputs))
    return {"flops": counted["flops"] / batch_size,
            "by_op": {op: n / batch_size for op, n in counted["by_op"].items()}}


class Flops(Evaluation):
    name = "flops"
    measures = frozenset(ArtifactKind) - {ArtifactKind.INPUT_TRANSFORM}
    """Not an attack's patch: the model it scores is its target's, measured on the target's row."""
    figures = (
        Metric("gflops", False, "GFLOPs", "forward FLOPs per sample / 1e9 (FLOPs = 2 × multiply-adds)", headline=True,
               kind=FigureKind.EXACT,
               chart=ChartAxis("compute", "GFLOPs per sample (forward)", "{y} against compute",
                               saving="flops_ratio", saves_below=1.0)),
        Metric("macs", False, "MACs", "forward multiply-adds per sample (what papers call FLOPs)",
               kind=FigureKind.EXACT),
        Metric("flops_ratio", False, "×", "FLOPs of the scored model / FLOPs of the dense base model",
               kind=FigureKind.EXACT),
    )

    settings = {"batch_size": Setting(PerPreset(4, 16, 64), "real eval inputs counted (FLOPs are per sample)", minimum=1)}

    def declared_figures(self, ctx: EvaluationContext) -> tuple[Metric, ...]:
        """Exact figures, or quality ones for a model whose compute depends on its input."""
        if "force_compute" in ctx.outcome.extras:
            return tuple(replace(m, kind=FigureKind.QUALITY) for m in self.figures)
        return self.figures

    def skip_reason(self, ctx: EvaluationContext) -> str | None:
        reason = getattr(ctx.task, "flops_uncountable", None)
        if reason:
            return f"task {ctx.task.name!r}: FlopCounterMode cannot count its forward: {reason}"
        return None

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        batch = ctx.config["batch_size"]
        inputs = ctx.task.sample_inputs(batch, ctx.device)
        scored = forward_flops_per_sample(ctx.task, ctx.outcome.model.to(ctx.device), inputs, batch)
        dense = forward_flops_per_sample(ctx.task, ctx.task.base_model(pretrained=False).to(ctx.device), inputs, batch)
        return {
            "flops": scored["flops"],
            "macs": scored["flops"] / 2,
            "gflops": scored["flops"] / 1e9,
            "base_flops": dense["flops"],
            "flops_ratio": scored["flops"] / dense["flops"] if dense["flops"] else None,
            "flops_by_op": scored["by_op"],
            "batch_size": batch,
            "convention": FLOPS_CONVENTION,
        }
