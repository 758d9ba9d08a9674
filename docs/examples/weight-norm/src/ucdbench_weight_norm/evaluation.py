"""The parameter norm of a run's scored model: the global L2 norm of every parameter (a tied
one counted once), its root-mean-square per scalar, and the tensors with the largest norms.

A quick look at what a method did to the weights — weight decay, quantisation, a
reparameterisation that blows up — measured alike for every run, by the harness, and added to
runs recorded before this plugin was installed by ``ucdbench evaluate``.
"""

from __future__ import annotations

import math
from typing import Any

from ucdbench.api import Evaluation, EvaluationContext, FigureKind, Metric, Setting


class WeightNorm(Evaluation):
    name = "weight-norm"
    figures = (
        Metric("l2", None, "", "L2 norm of every parameter of the scored model", headline=True,
               kind=FigureKind.EXACT),
        Metric("rms", None, "", "root mean square of the parameters' scalars", kind=FigureKind.EXACT),
    )
    settings = {
        "largest": Setting(3, "how many of the largest tensors (by L2 norm) the record lists", minimum=0),
    }

    def skip_reason(self, ctx: EvaluationContext) -> str | None:
        has_parameters = any(True for _ in ctx.outcome.model.parameters())
        return None if has_parameters else "the scored model has no parameters"

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        norms = {name: float(p.detach().double().pow(2).sum().sqrt())
                 for name, p in ctx.outcome.model.named_parameters()}
        scalars = sum(p.numel() for p in ctx.outcome.model.parameters())
        l2 = math.sqrt(sum(n * n for n in norms.values()))
        largest = sorted(norms.items(), key=lambda item: -item[1])[:ctx.config["largest"]]
        return {"l2": l2, "rms": l2 / math.sqrt(scalars), "scalars": scalars, "largest": dict(largest)}
