"""The ``sima`` method and its baseline ``softmax-vit``: the task's ViT trained with one recipe,
SimA attention or the unchanged softmax attention, so the two rows differ only in attention.

The artifact is the trained model's complete state; its metadata says which attention it uses
and with how many heads, so :meth:`SimA.rebuild_model` builds the same model around it from
the task's architecture alone.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from ucdbench.api import (
    Artifact, Config, FitContext, ImageClassification, Outcome, PerPreset, Setting, Task, UcdbenchError,
    expand_dense, initial_model, model_with_state, train,
)
from ucdbench_plugins.shared import papers
from ucdbench_plugins.methods.sima.attention import use_sima_attention
from ucdbench_plugins.shared.method_settings import training_settings
from ucdbench_plugins.shared.outcome import DenseModel
from ucdbench_plugins.shared.vision import require_vit

RECIPE: dict[str, Setting] = {
    **training_settings(epochs=PerPreset(10, 60, 300), lr=PerPreset(3e-3, 2e-3, 5e-4),
                        batch_size=PerPreset(64, 64, 1024), weight_decay=0.05),
    "pretrained": Setting(False, "fine-tune the task's softmax-pretrained ViT instead of training from scratch"),
}
"""The training recipe both rows share (SimA's is the DeiT recipe: AdamW, weight decay 0.05)."""


class SimA(DenseModel):
    """Train the task's ViT with every attention replaced by SimA (from scratch by default,
    as in the paper; ``pretrained=true`` fine-tunes the task's softmax-pretrained body)."""

    name = "sima"
    family = "efficient attention"
    paper = papers.SIMA
    reported_unavailable = ("SimA (WACV 2024): no table reachable: UCDvision/sima @3ec3b8e has no results in its "
                            "README or code, and stored copies of the paper hold only its opening; a third party's "
                            "paraphrase in the issue tracker (UCDvision/sima issue #4) is not a paper table")
    attention: ClassVar[str] = "sima"
    # PAPERS.md §3 gives no figure for a task of this suite ("on-par accuracy" with softmax).
    reported = ()
    requires = (ImageClassification,)
    settings = {
        **RECIPE,
        "heads": Setting("model", "heads of every SimA attention ('model': each block's own head count; the "
                         "width must be divisible by it)", choices=("model",), type=int, minimum=1),
    }

    def unsupported_reason(self, task: Task) -> str | None:
        if hasattr(task, "network_parts"):  # a task that wraps a timm network (imagenet): its ViT is inside
            return ("SimA replaces the attention of the task's own ViT (task.model=vit on the embedded image tasks); "
                    "on a task that wraps a timm network it is not supported yet")
        return require_vit(task)

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        torch.manual_seed(ctx.seed)
        model = task.base_model(pretrained=bool(config["pretrained"]))
        metadata = self.attend(model, None if self.attention == "softmax" or config["heads"] == "model"
                               else config["heads"])
        metrics = train(
            model, task, ctx, params=model.parameters(), epochs=config["epochs"], lr=config["lr"],
            batch_size=config["batch_size"], weight_decay=config["weight_decay"], desc=self.name,
        )
        return self.stored_outcome(task, model, metrics, metadata)

    def attend(self, model: nn.Module, heads: int | None) -> dict[str, Any]:
        """Give ``model`` this row's attention, in place (``heads`` None keeps the model's);
        returns what rebuilding it needs: the attention and the head count it got."""
        if self.attention == "softmax":
            return {"attention": "softmax"}
        try:
            use_sima_attention(model, heads)
        except ValueError as exc:
            raise UcdbenchError(f"sima: heads={heads}: {exc}; give a head count that divides the width, or "
                                "'model'") from None
        return {"attention": "sima", "heads": model.blocks[0].attn.num_heads}

    def rebuild_model(self, task: Task, artifact: Artifact, device: torch.device) -> nn.Module:
        """The task's ViT with the stored attention and head count, holding the stored state."""
        model = initial_model(task, task.seed)
        if artifact.metadata.get("attention") != self.attention:
            raise UcdbenchError(f"{self.name}: the artifact holds a model with {artifact.metadata.get('attention')!r} "
                                f"attention, not {self.attention!r}: rebuild it with the method that wrote it")
        self.attend(model, artifact.metadata.get("heads"))
        return model_with_state(model.to(device), expand_dense(artifact, device))


class SoftmaxViT(SimA):
    """The baseline row of SimA: the same model and recipe with softmax attention unchanged."""

    name = "softmax-vit"
    family = "efficient attention"
    paper = None
    attention = "softmax"
    settings = RECIPE
