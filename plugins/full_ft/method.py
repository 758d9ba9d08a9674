"""Full fine-tuning: the upper reference for accuracy and the lower one for storage."""

from __future__ import annotations

from typing import Any

from ucdbench.artifacts import dense_artifact, expand_dense
from ucdbench.interfaces import Config, FitContext, Method, Outcome, Task
from ucdbench.training import train


class FullFineTune(Method):
    name = "full-ft"

    @classmethod
    def defaults(cls, preset: str) -> dict[str, Any]:
        return {
            "pretrained": True,
            "lr": {"smoke": 1e-3, "small": 5e-4, "paper": 1e-4}[preset],
            "epochs": {"smoke": 3, "small": 20, "paper": 30}[preset],
            "batch_size": {"smoke": 64, "small": 64, "paper": 128}[preset],
            "weight_decay": 0.05,
        }

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        model = task.base_model(pretrained=config["pretrained"])
        metrics = train(model, task, ctx, params=model.parameters(), epochs=config["epochs"], lr=config["lr"],
                        batch_size=config["batch_size"], weight_decay=config["weight_decay"])
        return Outcome(
            model=model,
            artifact=dense_artifact(model.state_dict()),
            reconstruct=expand_dense,
            dense_weights=model.state_dict,
            metrics=metrics,
        )


class PretrainedBase(Method):
    """The task's pretrained base model as it is: the row an adapter or fine-tune must beat.

    Nothing trains and nothing new is stored, so compression and reconstruction are skipped.
    On image tasks with new classes the head is freshly initialised, so this row sits at
    chance there; on language tasks it is the pretrained model's score on the task's text.
    """

    name = "base"

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        model = task.base_model(pretrained=True).to(ctx.device).eval()
        return Outcome(model=model)
