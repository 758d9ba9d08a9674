"""LoRA through PEFT: ΔW = (alpha / r) · B · A on the chosen layers of the pretrained base.

The artifact holds each adapted layer's A and B and, declared dense, the task head for
classification tasks with new classes and the model's buffers (BatchNorm statistics, which
training updates in the frozen base). Reconstruction is the user's real job with an adapter:
the task's pretrained base + artifact → the complete merged state.
"""

from __future__ import annotations

from typing import Any

import torch

from ucdbench.api import (
    Artifact, Config, FitContext, ImageClassification, LanguageModeling, Outcome, ReportedFigure, Task,
)
from ucdbench_plugins.shared.peft_adapter import PeftMethod, fit_peft


def lora_delta(lora_a: torch.Tensor, lora_b: torch.Tensor, scaling: float, fan_in_fan_out: bool) -> torch.Tensor:
    """ΔW of one adapted layer, in the layout of its base weight (also for Conv2d kernels)."""
    if lora_a.dim() == 4:  # Conv2d: A is (r, c_in, k, k), B is (c_out, r, 1, 1)
        delta = torch.einsum("or,rihw->oihw", lora_b.flatten(1), lora_a)
    else:
        delta = lora_b @ lora_a
    return (delta.T if fan_in_fan_out else delta) * scaling


class LoRA(PeftMethod):
    name = "lora"
    reported = (
        ReportedFigure("e2e", "BLEU", 70.4, "GPT-2 L, r=4, 0.77M params", "NOLA paper, Table 1"),
        ReportedFigure("e2e", "BLEU", 69.9, "GPT-2 L, r=1, 0.184M params", "NOLA paper, Table 1"),
    )

    @classmethod
    def defaults(cls, preset: str) -> dict[str, Any]:
        return {
            "rank": {"smoke": 4, "small": 4, "paper": 8}[preset],
            "alpha": {"smoke": 8.0, "small": 8.0, "paper": 16.0}[preset],
            "target_modules": "auto",
            "dropout": 0.0,
            "lr": {"smoke": 5e-3, "small": 3e-3, "paper": 5e-4}[preset],
            "epochs": {"smoke": 3, "small": 20, "paper": 10}[preset],
            "batch_size": {"smoke": 64, "small": 64, "paper": 128}[preset],
            "weight_decay": 0.0,
        }

    requires = ((ImageClassification, LanguageModeling),)

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        from peft import LoraConfig
        from peft.tuners.lora import LoraLayer

        fit = fit_peft("lora", task, config, ctx, lambda targets, fan_in_fan_out: LoraConfig(
            r=config["rank"], lora_alpha=config["alpha"], lora_dropout=config["dropout"], target_modules=targets,
            fan_in_fan_out=fan_in_fan_out), LoraLayer)
        layout = {"scaling": config["alpha"] / config["rank"], "head": fit.head,
                  "layers": {name: {"fan_in_fan_out": bool(getattr(m, "fan_in_fan_out", False))}
                             for name, m in fit.layers.items()}}
        adapters = {}
        for name, module in fit.layers.items():
            adapters[f"{name}.lora_A"] = module.lora_A["default"].weight.detach()
            adapters[f"{name}.lora_B"] = module.lora_B["default"].weight.detach()
        return self.outcome(task, fit, adapters, layout)

    def merged_weights(self, base: dict[str, torch.Tensor], artifact: Artifact,
                       device: torch.device) -> dict[str, torch.Tensor]:
        tensors, layout = artifact.tensors, artifact.metadata
        return {f"{layer}.weight": base[f"{layer}.weight"]
                + lora_delta(tensors[f"{layer}.lora_A"], tensors[f"{layer}.lora_B"], layout["scaling"],
                             spec["fan_in_fan_out"])
                for layer, spec in layout["layers"].items()}
