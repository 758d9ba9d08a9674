"""Linear probe: top-1 of a linear classifier trained on a run's frozen features.

Features of the (labelled) training split through the run's encoder (as the ``knn``
evaluation reads it), fitted on their clean labels for every row alike — the like-for-like
protocol: under ``task.label_noise`` a row's own head (full-ft's, trained on noisy labels; a
representation method's, fitted on the same noisy labels) is scored by ``accuracy``, and every
row's representation by this same probe fitted the same way on the same clean labels — and the
official linear evaluation of MSF/CMSF
(:func:`ucdbench_plugins.shared.representation.fit_linear_probe`): features L2-normalised and
standardised by the training split's statistics, a linear layer trained by mini-batch SGD on the
run's device, scored on the eval split. The features stay on the host and go to the device a
batch at a time, so ImageNet's 1.28M × 2048 fits any GPU. Every preset takes the official
recipe (40 epochs of 256, lr 0.01 ÷ 10 at 15 and 30): on CPU-sized splits it takes a second.
"""

from __future__ import annotations

from typing import Any

from ucdbench.api import ArtifactKind, Config, Evaluation, EvaluationContext, MemoryNeed, Metric, Setting, Task
from ucdbench_plugins.shared.representation import (
    ProbeRecipe, fit_linear_probe, probe_top1, representation_skip_reason, split_features,
)
from ucdbench_plugins.shared.vision import network_sketch

OFFICIAL = ProbeRecipe()


def _milestones(value: list[Any]) -> str | None:
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
        return "give epochs as whole numbers ≥ 1, e.g. [15, 30]"
    return None


class LinearProbe(Evaluation):
    name = "linear-probe"
    measures = frozenset(ArtifactKind) - {ArtifactKind.INPUT_TRANSFORM}
    """Not an attack's patch: the model it scores is its target's, measured on the target's row."""
    figures = (Metric("probe_top1", True, "%", "top-1 on the eval split of a linear classifier on frozen features",
                      headline=True),)
    settings = {
        "epochs": Setting(OFFICIAL.epochs, "SGD passes over the training features", minimum=1),
        "batch_size": Setting(OFFICIAL.batch_size, "features per SGD step (what the device holds at once)", minimum=1),
        "lr": Setting(OFFICIAL.lr, "initial learning rate", minimum=0, exclusive_minimum=True),
        "milestones": Setting(list(OFFICIAL.milestones), "epochs after which the learning rate is divided by 10",
                              type=list, check=_milestones),
        "momentum": Setting(OFFICIAL.momentum, "SGD momentum", minimum=0, maximum=1),
        "weight_decay": Setting(OFFICIAL.weight_decay, "SGD weight decay (every parameter, as the official code)",
                                minimum=0),
    }

    def skip_reason(self, ctx: EvaluationContext) -> str | None:
        return representation_skip_reason(ctx)

    def memory_needs(self, task: Task, config: Config) -> list[MemoryNeed]:
        """A batch of features and its gradient, and the layer with its gradient and momentum,
        counted on the task's network sketch (its feature width and classes); nothing where the
        task has none before it is prepared."""
        sketch = network_sketch(task)
        width, classes = getattr(sketch, "num_features", None), getattr(sketch, "num_classes", None)
        if not width or not classes:
            return []
        return [MemoryNeed(4 * 3 * config["batch_size"] * width, f"a batch of {config['batch_size']} × {width} "
                           "features", "batch_size"),
                MemoryNeed(4 * 3 * (width + 1) * classes, f"the {width} × {classes} layer, its gradient and "
                           "momentum", "batch_size")]

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        train, train_labels = split_features(ctx, "train")
        queries, labels = split_features(ctx, "eval")
        num_classes = int(max(train_labels.max(), labels.max())) + 1
        config = ctx.config
        recipe = ProbeRecipe(config["epochs"], config["batch_size"], config["lr"], config["momentum"],
                             config["weight_decay"], tuple(config["milestones"]))
        probe = fit_linear_probe(train, train_labels, num_classes, ctx.device, ctx.task.seed, recipe)
        return {"probe_top1": probe_top1(probe, queries, labels, ctx.device)}
