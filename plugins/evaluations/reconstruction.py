"""Reconstruction: artifact file → the complete state of the scored model on the device, and a
check that it is the state that was scored.

The artifact is read back from the file the harness wrote (so anything the method forgot to
store shows up here), rebuilt ``repeats`` times after one warm-up, each timed synchronised by
the hardware plugin; the median is reported, and every timed rebuild is kept (``samples_ms``)
for ``ucdbench compare``, with the process's work time where the hardware has a work clock
(``work_samples_ms``). The rebuilt state is compared with the scored
model's complete state (:meth:`Outcome.scored_state`: every parameter and persistent buffer,
BatchNorm statistics and counters included): ``weights_equal`` holds when both have the same
names and every tensor is bitwise equal (same shape and dtype) on the same device.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

import torch

from ucdbench.api import (
    Evaluation, EvaluationContext, FigureKind, Metric, PerPreset, Setting, percentile, read_artifact, time_calls,
)

SHOWN_NAMES = 10


def compare_states(reference: dict[str, torch.Tensor], rebuilt: dict[str, torch.Tensor],
                   device: torch.device) -> dict[str, Any]:
    """Name by name, bitwise: what is missing on either side, what differs, by how much."""
    missing = set(reference) ^ set(rebuilt)
    differing, max_abs_diff, compared_scalars = set(), 0.0, 0
    common = sorted(set(reference) & set(rebuilt))
    for name in common:
        ref, new = reference[name].detach().to(device), rebuilt[name].detach().to(device)
        compared_scalars += ref.numel()
        if ref.shape != new.shape:
            differing.add(name)
            max_abs_diff = float("inf")
            continue
        if ref.dtype != new.dtype or not torch.equal(ref, new):
            differing.add(name)
        if ref.numel():
            max_abs_diff = max(max_abs_diff, float((ref.double() - new.double()).abs().max()))
    mismatched = sorted(missing | differing)
    return {
        "weights_equal": not mismatched,
        "compared_tensors": len(common),
        "compared_scalars": compared_scalars,
        "mismatched_tensors": len(mismatched),
        "mismatched_names": mismatched[:SHOWN_NAMES],
        "max_abs_diff": max_abs_diff,
    }


class Reconstruction(Evaluation):
    name = "reconstruction"
    figures = (
        Metric("median_ms", False, "ms", "median time to rebuild the complete state from the artifact file",
               headline=True, kind=FigureKind.TIMING),
        Metric("p90_ms", False, "ms", "90th percentile of that time", kind=FigureKind.TIMING),
        Metric("weights_equal", True, "", "the rebuilt complete state equals the scored one, bitwise", headline=True,
               kind=FigureKind.EXACT),
    )

    settings = {"repeats": Setting(PerPreset(3, 10, 20), "timed rebuilds after one warm-up (the median is reported)",
                                   minimum=1)}

    def skip_reason(self, ctx: EvaluationContext) -> str | None:
        if ctx.outcome.artifact is None or ctx.outcome.reconstruct is None:
            return "the method stores no artifact to rebuild its model from"
        return None

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        device, hardware, reconstruct = ctx.device, ctx.hardware, ctx.outcome.reconstruct
        artifact = read_artifact(ctx.artifact_path, device)
        rebuilt: dict[str, torch.Tensor] = {}

        def rebuild() -> None:
            rebuilt.clear()
            with torch.no_grad():
                rebuilt.update(reconstruct(artifact, device))

        # one warm-up: lazy init, allocator, a held base loaded once
        timed = time_calls(rebuild, hardware, device, ctx.config["repeats"])
        times = timed.seconds
        return {
            "median_ms": 1000 * statistics.median(times),
            "p90_ms": 1000 * percentile(times, 90),
            "repeats": len(times),
            **timed.samples(),
            "rebuilt_scalars": sum(int(t.numel()) for t in rebuilt.values()),
            **compare_states(ctx.outcome.scored_state(), rebuilt, device),
        }

    def conformance_problem(self, results: Mapping[str, Any] | None, run: Mapping[str, Any]) -> str | None:
        """A method that stores an artifact must say how to rebuild the scored model's complete
        state from it (``Outcome.reconstruct``), and the rebuilt state must equal it bitwise."""
        if results is None:
            if run.get("artifact"):
                return (f"did not run although the method stores an artifact: {run.get('skipped', {}).get(self.name)}; "
                        "give the Outcome a reconstruct function")
            return None
        if not results.get("weights_equal"):
            return (f"the state rebuilt from the artifact file differs from the scored one: "
                    f"{results.get('mismatched_names')}; store every tensor the scored model needs (see "
                    "ucdbench.api.state_with and ucdbench.api.stored_dense)")
        return None
