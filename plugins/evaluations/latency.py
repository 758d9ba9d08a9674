"""Latency: forward time of the scored model on real eval inputs, synchronised.

Warm-up iterations first (allocator, caches, lazy init), then timed iterations until both
``min_iters`` and ``min_seconds`` are reached (capped at ``max_iters``), so percentiles are
taken over enough samples to be stable. Each iteration is timed by the hardware plugin (CUDA
events on GPUs). The record keeps every timed iteration (``samples_ms``), and where the hardware
has a work clock (a CPU's process time) the work each took (``work_samples_ms``), so that
``ucdbench compare`` tests a slowdown on the raw samples rather than on two medians, and on work
time where both nights have it, which another job's load on the machine does not inflate. Energy per sample is
reported where the hardware meters it (NVML); with no raw samples behind it, it is compared
across seeds like a quality figure.
"""

from __future__ import annotations

import statistics
from typing import Any

import torch

from ucdbench.api import (
    ArtifactKind, Evaluation, EvaluationContext, FigureKind, Metric, PerPreset, Setting, TimedCalls, percentile,
)


class Latency(Evaluation):
    name = "latency"
    measures = frozenset(ArtifactKind) - {ArtifactKind.INPUT_TRANSFORM}
    """Not an attack's patch: the model it scores is its target's, measured on the target's row."""
    figures = (
        Metric("p50_ms", False, "ms", "median time of one batch", headline=True, kind=FigureKind.TIMING),
        Metric("p90_ms", False, "ms", "90th percentile time of one batch", kind=FigureKind.TIMING),
        Metric("p99_ms", False, "ms", "99th percentile time of one batch", kind=FigureKind.TIMING),
        Metric("samples_per_s", True, "samples/s", "batch size / median batch time", kind=FigureKind.TIMING),
        Metric("energy_j_per_sample", False, "J", "energy per sample, where the device meters it (NVML)",
               kind=FigureKind.QUALITY),
    )

    settings = {
        "batch_size": Setting(PerPreset(16, 32, 64), "samples per timed forward pass", minimum=1),
        "warmup": Setting(PerPreset(2, 5, 20), "untimed passes first (allocator, caches, lazy init)", minimum=0),
        "min_iters": Setting(PerPreset(5, 30, 100), "timed passes at least", minimum=1),
        "min_seconds": Setting(PerPreset(0.1, 1.0, 5.0), "timed seconds at least", minimum=0),
        "max_iters": Setting(PerPreset(200, 2000, 10000), "timed passes at most", minimum=1),
    }

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        cfg, hardware, device = ctx.config, ctx.hardware, ctx.device
        model = ctx.outcome.model.to(device).eval()
        inputs = ctx.task.sample_inputs(cfg["batch_size"], device)

        def step() -> None:
            with torch.inference_mode():
                ctx.task.forward(model, inputs)

        for _ in range(cfg["warmup"]):
            step()
        hardware.synchronize(device)
        hardware.reset_peak_memory(device)
        meter = hardware.energy_meter(device)
        joules_before = meter.joules() if meter is not None else None
        timed = TimedCalls()
        times = timed.seconds
        while len(times) < cfg["max_iters"] and (
            len(times) < cfg["min_iters"] or sum(times) < cfg["min_seconds"]
        ):
            timed.time(step, hardware, device)
        hardware.synchronize(device)
        batch = cfg["batch_size"]
        results: dict[str, Any] = {
            "batch_size": batch,
            "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
            "threads": torch.get_num_threads(),
            "iterations": len(times),
            "p50_ms": 1000 * percentile(times, 50),
            "p90_ms": 1000 * percentile(times, 90),
            "p99_ms": 1000 * percentile(times, 99),
            "mean_ms": 1000 * statistics.fmean(times),
            "samples_per_s": batch / percentile(times, 50),
            "peak_memory_bytes": hardware.peak_memory_bytes(device),
            **timed.samples(),
        }
        if joules_before is not None:
            results["energy_j_per_sample"] = (meter.joules() - joules_before) / (batch * len(times))
        return results
