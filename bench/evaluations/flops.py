"""FLOPs: per-sample forward FLOPs of the scored model on real eval inputs.

Counted by ``torch.utils.flop_counter.FlopCounterMode`` on the shapes the model really runs
with, so tokens a model drops are saved compute and tokens it only masks are not. Convention:
FLOPs = 2 × multiply-adds, as torch counts; ``macs`` (= FLOPs / 2) is what fvcore and most
papers report as "FLOPs". PyTorch has no formula for the CPU flash-attention kernel that
``F.scaled_dot_product_attention`` dispatches to on CPU, so one is registered here; without
it attention would count as zero on CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

from ucdbench.interfaces import Evaluation, EvaluationContext, Metric, PerPreset, Setting

CONVENTION = "flops = 2 x multiply-adds (torch.utils.flop_counter); macs = multiply-adds (fvcore, papers)"

_aten = torch.ops.aten


def _register_cpu_sdpa_formulas() -> None:
    """Give the CPU flash-attention kernels the formulas torch uses for the CUDA ones."""
    forward = _aten._scaled_dot_product_flash_attention_for_cpu
    backward = _aten._scaled_dot_product_flash_attention_for_cpu_backward
    if forward not in flop_counter.flop_registry:

        @flop_counter.register_flop_formula(forward)
        def _cpu_sdpa(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
            return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)

    if backward not in flop_counter.flop_registry:

        @flop_counter.register_flop_formula(backward)
        def _cpu_sdpa_backward(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
            return flop_counter.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


_register_cpu_sdpa_formulas()


def count_flops(fn: Callable[[], Any]) -> dict[str, Any]:
    """FLOPs of one call of ``fn``: ``{"flops": total, "by_op": {op name: flops}}``."""
    with FlopCounterMode(display=False) as counter:
        fn()
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return {"flops": int(counter.get_total_flops()), "by_op": by_op}


def forward_flops_per_sample(task, model: torch.nn.Module, inputs: Any, batch_size: int) -> dict[str, Any]:
    """Per-sample forward FLOPs of ``model`` on ``inputs`` (a batch of ``batch_size``)."""
    model.eval()
    with torch.no_grad():
        counted = count_flops(lambda: task.forward(model, inputs))
    return {"flops": counted["flops"] / batch_size,
            "by_op": {op: n / batch_size for op, n in counted["by_op"].items()}}


class Flops(Evaluation):
    name = "flops"
    figures = (
        Metric("gflops", False, "GFLOPs", "forward FLOPs per sample / 1e9 (FLOPs = 2 × multiply-adds)", headline=True),
        Metric("macs", False, "MACs", "forward multiply-adds per sample (what papers call FLOPs)"),
        Metric("flops_ratio", False, "×", "FLOPs of the scored model / FLOPs of the dense base model"),
    )

    settings = {"batch_size": Setting(PerPreset(4, 16, 64), "real eval inputs counted (FLOPs are per sample)", minimum=1)}

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
            "convention": CONVENTION,
        }
