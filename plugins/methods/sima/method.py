"""The ``sima`` method and its baseline ``softmax-vit``: the task's ViT trained with one recipe,
SimA attention or the unchanged softmax attention, so the two rows differ only in attention."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ucdbench.api import (
    Config, FitContext, ImageClassification, Method, Outcome, Task, UcdbenchError, dense_model_outcome,
    train,
)
from ucdbench_plugins.methods.sima.attention import use_sima_attention
from ucdbench_plugins.shared.vision import require_vit


class SimA(Method):
    """Train the task's ViT with every attention replaced by SimA (from scratch by default,
    as in the paper; ``pretrained=true`` fine-tunes the task's softmax-pretrained body)."""

    name = "sima"
    attention: ClassVar[str] = "sima"
    # PAPERS.md §3 gives no figure for a task of this suite ("on-par accuracy" with softmax).
    reported = ()

    @classmethod
    def defaults(cls, preset: str) -> Config:
        schedule = {
            "smoke": {"epochs": 10, "lr": 3e-3, "batch_size": 64},
            "small": {"epochs": 60, "lr": 2e-3, "batch_size": 64},
            "paper": {"epochs": 300, "lr": 5e-4, "batch_size": 1024},
        }[preset]
        config: dict[str, Any] = {**schedule, "weight_decay": 0.05, "pretrained": False}
        if cls.attention == "sima":
            config["heads"] = "model"
        return config

    requires = (ImageClassification,)

    def unsupported_reason(self, task: Task) -> str | None:
        return require_vit(task)

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        torch.manual_seed(ctx.seed)
        model = task.base_model(pretrained=bool(config["pretrained"]))
        if self.attention == "sima":
            heads = config["heads"]
            if heads != "model" and not (isinstance(heads, int) and heads > 0):
                raise UcdbenchError(f"sima: heads must be 'model' or a positive integer, not {heads!r}")
            use_sima_attention(model, None if heads == "model" else heads)
        metrics = train(
            model, task, ctx, params=model.parameters(), epochs=config["epochs"], lr=config["lr"],
            batch_size=config["batch_size"], weight_decay=config["weight_decay"], desc=self.name,
        )
        return dense_model_outcome(model, metrics)


class SoftmaxViT(SimA):
    """The baseline row of SimA: the same model and recipe with softmax attention unchanged."""

    name = "softmax-vit"
    attention = "softmax"
