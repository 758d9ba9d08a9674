"""Linear probe: top-1 of a linear classifier trained on a run's frozen features.

Features of the (labelled) training split through the run's encoder (as the ``knn``
evaluation reads it), clean labels, a linear layer fitted by
:func:`ucdbench_plugins.shared.representation.fit_linear_classifier`, scored on the eval split.
"""

from __future__ import annotations

from typing import Any

from ucdbench.api import Evaluation, EvaluationContext, Metric, PerPreset, Setting
from ucdbench_plugins.shared.representation import linear_probe_top1, representation_skip_reason, split_features


class LinearProbe(Evaluation):
    name = "linear-probe"
    figures = (Metric("probe_top1", True, "%", "top-1 on the eval split of a linear classifier on frozen features",
                      headline=True),)
    settings = {
        "steps": Setting(PerPreset(50, 100, 100), "L-BFGS iterations (full batch)", minimum=1),
        "weight_decay": Setting(1e-4, "L2 penalty on the classifier's weights", minimum=0),
    }

    def skip_reason(self, ctx: EvaluationContext) -> str | None:
        return representation_skip_reason(ctx)

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        train, train_labels = split_features(ctx, "train")
        queries, labels = split_features(ctx, "eval")
        num_classes = int(max(train_labels.max(), labels.max())) + 1
        return {"probe_top1": linear_probe_top1(train, train_labels, queries, labels, num_classes,
                                          steps=ctx.config["steps"], weight_decay=ctx.config["weight_decay"])}
