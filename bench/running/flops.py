"""Counting FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` on the shapes a model really runs.

Tokens a model drops are saved compute and tokens it only masks are not, because the counter
sees real shapes. Convention: FLOPs = 2 × multiply-adds, as torch counts; MACs (= FLOPs / 2) is
what fvcore and most papers report as "FLOPs". PyTorch has no formula for the CPU
flash-attention kernels that ``F.scaled_dot_product_attention`` dispatches to on CPU, so one is
registered here (the formula torch uses for the CUDA kernels); without it attention would count
as zero on CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

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
