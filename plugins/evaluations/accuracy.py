"""Accuracy: the task's own metrics of the scored model on the task's eval split.

Where the outcome carries an input transform (an attack or a backdoor trigger), the same
metrics are also reported on transformed inputs, suffixed ``_transformed``. Where the artifact is
the input transform alone (an adversarial patch on another run's model), only those are: the
clean figures are the attacked model's own, on its row (the run's clean control).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ucdbench.api import ArtifactKind, Evaluation, EvaluationContext, Metric


class Accuracy(Evaluation):
    name = "accuracy"

    def declared_figures(self, ctx: EvaluationContext) -> tuple[Metric, ...]:
        """The task's metrics, primary first (the run summary's headline), then the same on
        transformed inputs where the outcome has an input transform."""
        task = ctx.task
        metrics = sorted(task.metrics, key=lambda m: m.name != task.primary_metric)
        clean = ctx.outcome.kind is not ArtifactKind.INPUT_TRANSFORM
        figures = [replace(m, headline=m.name == task.primary_metric) for m in metrics] if clean else []
        if ctx.outcome.input_transform is not None:
            figures += [replace(m, name=f"{m.name}_transformed", headline=not clean and m.name == task.primary_metric,
                                description=f"{m.description} (on transformed inputs)") for m in metrics]
        return tuple(figures)

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        model = ctx.outcome.model.to(ctx.device)
        results: dict[str, Any] = {}
        if ctx.outcome.kind is not ArtifactKind.INPUT_TRANSFORM:
            results.update(ctx.task.evaluate(model, ctx.device))
        if ctx.outcome.input_transform is not None:
            transformed = ctx.task.evaluate(model, ctx.device, ctx.outcome.input_transform)
            results.update({f"{name}_transformed": value for name, value in transformed.items()})
        return results

    def conformance_problem(self, results: Mapping[str, Any] | None, run: Mapping[str, Any]) -> str | None:
        """The task's ``evaluate`` must give every metric the task declares, as a number
        (leaderboards rank by them and the conformance kit compares the primary one), or say why
        it cannot here, as ``<metric>_omitted`` (a metric whose package or weights this machine
        lacks, such as the scene task's LPIPS); on an input transform's run, each ``_transformed``."""
        if results is None:  # nothing measured, nothing to judge
            return None
        suffix = "_transformed" if run.get("artifact_kind") == ArtifactKind.INPUT_TRANSFORM.value else ""
        declared = [m["name"] + suffix for m in run["task"].get("metrics", [])]
        missing = [name for name in declared if (not isinstance(results.get(name), (int, float))
                                                 or isinstance(results.get(name), bool))
                   and not (isinstance(results.get(f"{name}_omitted"), str) and results[f"{name}_omitted"])]
        if missing:
            return (f"task {run['task']['name']!r}: evaluate() gave no number for {', '.join(missing)}; return every "
                    "metric the task declares (Task.metrics) as a float, or `<metric>_omitted`: why it cannot here")
        return None
