"""Full fine-tuning: the upper reference for accuracy and the lower one for storage."""

from __future__ import annotations

import torch

from ucdbench.api import (
    Artifact, Config, FitContext, ImageClassification, LanguageModeling, Method, Outcome, PerPreset,
    SceneReconstruction, Setting, Task, train,
)
from ucdbench_plugins.shared import papers
from ucdbench_plugins.shared.method_settings import training_settings
from ucdbench_plugins.shared.outcome import DenseModel


class FullFineTune(DenseModel):
    name = "full-ft"
    family = "baseline"
    paper = None
    requires = ((ImageClassification, LanguageModeling, SceneReconstruction),)
    """Tasks with a training split to fine-tune on (a few-shot task has only episodes)."""
    reference_row = True  # training every weight: what a cheaper method is compared with

    settings = {
        "pretrained": Setting(True, "start from the task's pretrained base (true) or a random init drawn from the "
                                    "task's seed (false: training from scratch)"),
        **training_settings(lr=PerPreset(1e-3, 5e-4, 1e-4), epochs=PerPreset(3, 20, 30),
                            batch_size=PerPreset(64, 64, 128), weight_decay=0.05),
    }

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        model = task.base_model(pretrained=config["pretrained"])
        metrics = train(model, task, ctx, params=model.parameters(), epochs=config["epochs"], lr=config["lr"],
                        batch_size=config["batch_size"], weight_decay=config["weight_decay"])
        return self.stored_outcome(task, model, metrics)


class PretrainedBase(Method):
    """The task's pretrained base model as it is: the row an adapter or fine-tune must beat.

    Nothing trains and nothing new is stored, so compression and reconstruction are skipped.
    On image tasks with new classes the head is freshly initialised, so this row sits at
    chance there; on language tasks it is the pretrained model's score on the task's text.
    """

    name = "base"
    family = "baseline"
    paper = None
    reference_row = True  # the model as it was: what any training must beat

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        return self.outcome(task, ctx.device)

    def rebuild_outcome(self, task: Task, artifact: Artifact | None, device: torch.device) -> Outcome:
        """The task's pretrained base again: nothing was stored, nothing is needed."""
        return self.outcome(task, device)

    @staticmethod
    def outcome(task: Task, device: torch.device) -> Outcome:
        return Outcome(model=task.base_model(pretrained=True).to(device).eval())
