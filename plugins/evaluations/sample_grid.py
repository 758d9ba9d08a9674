"""Sample grid: what a generative augmentation makes of its sources, as an image beside the run.

For an outcome that can draw one (``extras["sample_grid"]``: device → PNG bytes, as the
few-shot augmentation methods give), the grid is drawn on the run's device and attached to the
run (``samples.png``), so a leaderboard shows, under each method's row, source images and the
images made from them (at several noise ratios for the diffusion edits).
"""

from __future__ import annotations

from typing import Any

from ucdbench.api import Evaluation, EvaluationContext


class SampleGrid(Evaluation):
    name = "sample-grid"

    def skip_reason(self, ctx: EvaluationContext) -> str | None:
        if "sample_grid" not in ctx.outcome.extras:
            return "the method draws no sample grid"
        return None

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        png = ctx.outcome.extras["sample_grid"](ctx.device)
        ctx.attach("samples.png", png, "source images of the first episode → what the method adds from them "
                                       "(diffusion edits also at several noise ratios r)")
        return {"png_bytes": len(png)}
