"""Reconstruction: artifact file → dense weights on the device, and a check that they are
the weights that were scored.

The artifact is read back from the file the harness wrote (so anything the method forgot to
store shows up here), rebuilt ``repeats`` times after one warm-up, each timed synchronised by
the hardware plugin; the median is reported. The rebuilt tensors are compared with the scored
model's dense weights: ``weights_equal`` is bitwise equality on the same device.
"""

from __future__ import annotations

import statistics
from typing import Any

import torch

from ucdbench.artifacts import read_artifact
from ucdbench.evaluations.latency import percentile
from ucdbench.interfaces import Evaluation, EvaluationContext


class Reconstruction(Evaluation):
    name = "reconstruction"
    leaderboard_columns = ("median_ms", "p90_ms", "weights_equal")

    @classmethod
    def defaults(cls, preset: str) -> dict[str, Any]:
        return {"repeats": {"smoke": 3, "small": 10, "paper": 20}[preset]}

    def skip_reason(self, ctx: EvaluationContext) -> str | None:
        if ctx.outcome.artifact is None or ctx.outcome.reconstruct is None:
            return "the method stores no artifact to rebuild weights from"
        if ctx.outcome.dense_weights is None:
            return "the method gives no dense weights to compare the rebuilt ones with"
        return None

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        device, hardware, reconstruct = ctx.device, ctx.hardware, ctx.outcome.reconstruct
        artifact = read_artifact(ctx.artifact_path, device)
        rebuilt: dict[str, torch.Tensor] = {}

        def rebuild() -> None:
            rebuilt.clear()
            with torch.no_grad():
                rebuilt.update(reconstruct(artifact, device))

        rebuild()  # warm-up: lazy init, allocator
        times = [hardware.time_call(rebuild, device) for _ in range(ctx.config["repeats"])]
        reference = ctx.outcome.dense_weights()
        missing = sorted(set(reference) ^ set(rebuilt))
        equal = not missing
        max_abs_diff = 0.0
        for name in set(reference) & set(rebuilt):
            ref, new = reference[name].detach().to(device), rebuilt[name].detach()
            if ref.shape != new.shape:
                equal, max_abs_diff = False, float("inf")
                continue
            equal &= bool(torch.equal(ref, new))
            max_abs_diff = max(max_abs_diff, float((ref.float() - new.float()).abs().max()) if ref.numel() else 0.0)
        return {
            "median_ms": 1000 * statistics.median(times),
            "p90_ms": 1000 * percentile(times, 90),
            "repeats": len(times),
            "rebuilt_scalars": sum(int(t.numel()) for t in rebuilt.values()),
            "weights_equal": equal,
            "max_abs_diff": max_abs_diff,
            "mismatched_names": missing[:10],
        }
