"""Timing helpers for evaluations and benchmarks: synchronised repeats through a Hardware
plugin (CUDA events on GPUs), and percentiles of the times."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from ucdbench.contracts.interfaces import Hardware


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, ``q`` in [0, 100]."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class TimedCalls:
    """Each timed call's seconds (wall clock, synchronised) and, where the hardware has a work
    clock (:meth:`ucdbench.api.Hardware.work_seconds`), the work seconds the process spent on it."""

    seconds: list[float] = field(default_factory=list)
    work_seconds: list[float] | None = None

    def time(self, fn: Callable[[], Any], hardware: Hardware, device: torch.device) -> None:
        """Time one more call of ``fn``."""
        before = hardware.work_seconds()
        self.seconds.append(hardware.time_call(fn, device))
        if before is not None:
            after = hardware.work_seconds()
            self.work_seconds = [*(self.work_seconds or []), after - before]  # type: ignore[operator]

    def samples(self) -> dict[str, list[float]]:
        """The raw samples an evaluation keeps in its results for ``ucdbench compare``:
        ``samples_ms`` and, with a work clock, ``work_samples_ms``."""
        kept = {"samples_ms": [1000 * t for t in self.seconds]}
        if self.work_seconds is not None:
            kept["work_samples_ms"] = [1000 * t for t in self.work_seconds]
        return kept


def time_calls(fn: Callable[[], Any], hardware: Hardware, device: torch.device, repeats: int,
               warmup: int = 1) -> TimedCalls:
    """``repeats`` calls of ``fn`` on ``device`` after ``warmup`` untimed ones (allocator,
    caches, lazy init), each synchronised and timed by ``hardware``, on both its clocks."""
    for _ in range(warmup):
        fn()
    hardware.synchronize(device)
    timed = TimedCalls()
    for _ in range(repeats):
        timed.time(fn, hardware, device)
    return timed


def time_repeats(fn: Callable[[], Any], hardware: Hardware, device: torch.device, repeats: int,
                 warmup: int = 1) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn`` (see :func:`time_calls`), wall clock."""
    return time_calls(fn, hardware, device, repeats, warmup).seconds
