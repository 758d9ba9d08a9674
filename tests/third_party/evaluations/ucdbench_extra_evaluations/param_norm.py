"""The L2 norm of the scored model's parameters: a new figure for every recorded run."""

from __future__ import annotations

from typing import Any

from ucdbench import hookimpl
from ucdbench.api import Evaluation, EvaluationContext, FigureKind, Metric


class ParamNorm(Evaluation):
    name = "param-norm"
    figures = (Metric("l2", None, "", "L2 norm of every parameter of the scored model", kind=FigureKind.EXACT),)

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        squares = sum(float(p.detach().double().pow(2).sum()) for p in ctx.outcome.model.parameters())
        return {"l2": squares ** 0.5}


@hookimpl
def ucdbench_register_evaluations(register):
    register("param-norm", ParamNorm, summary="L2 norm of the scored model's parameters")
