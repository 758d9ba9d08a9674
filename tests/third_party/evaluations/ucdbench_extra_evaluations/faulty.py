"""An evaluation that raises on every run: its failure must not lose the run."""

from __future__ import annotations

from typing import Any

from ucdbench import hookimpl
from ucdbench.api import Evaluation, EvaluationContext, Metric


class Faulty(Evaluation):
    name = "faulty-evaluation"
    figures = (Metric("value", True),)

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        raise ValueError("the faulty evaluation always raises")


@hookimpl
def ucdbench_register_evaluations(register):
    register("faulty-evaluation", Faulty, summary="raises on every run")
