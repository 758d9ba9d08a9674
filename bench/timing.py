"""Timing helpers for evaluations and benchmarks: synchronised repeats through a Hardware
plugin (CUDA events on GPUs), and percentiles of the times."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from ucdbench.interfaces import Hardware


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, ``q`` in [0, 100]."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def time_repeats(fn: Callable[[], Any], hardware: Hardware, device: torch.device, repeats: int,
                 warmup: int = 1) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn`` on ``device`` after ``warmup`` untimed
    ones (allocator, caches, lazy init), each synchronised and timed by ``hardware``."""
    for _ in range(warmup):
        fn()
    hardware.synchronize(device)
    return [hardware.time_call(fn, device) for _ in range(repeats)]
