"""Accuracy: the task's own metrics of the scored model on the task's eval split.

Where the outcome carries an input transform (an attack or a backdoor trigger), the same
metrics are also reported on transformed inputs, suffixed ``_transformed``.
"""

from __future__ import annotations

from typing import Any

from ucdbench.interfaces import Evaluation, EvaluationContext


class Accuracy(Evaluation):
    name = "accuracy"

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        model = ctx.outcome.model.to(ctx.device)
        results: dict[str, Any] = dict(ctx.task.evaluate(model, ctx.device))
        if ctx.outcome.input_transform is not None:
            transformed = ctx.task.evaluate(model, ctx.device, ctx.outcome.input_transform)
            results.update({f"{name}_transformed": value for name, value in transformed.items()})
        return results
