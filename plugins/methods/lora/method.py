"""LoRA through PEFT: ΔW = (alpha / r) · B · A on the chosen layers of the pretrained base.

The artifact holds each adapted layer's A and B and, declared dense, the task head for
classification tasks with new classes and the model's buffers (BatchNorm statistics, which
training updates in the frozen base). Reconstruction is the user's real job with an adapter:
the task's pretrained base + artifact → the complete merged state.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ucdbench.api import (
    Artifact, Config, FitContext, ImageClassification, LanguageModeling, Outcome, PerPreset, Setting,
    Task,
)
from ucdbench_plugins.shared import papers
from ucdbench_plugins.shared.method_settings import low_rank_settings, training_settings
from ucdbench_plugins.shared.peft_adapter import TARGET_MODULES, PeftMethod, fit_peft


def lora_delta(lora_a: torch.Tensor, lora_b: torch.Tensor, scaling: float, fan_in_fan_out: bool) -> torch.Tensor:
    """ΔW of one adapted layer, in the layout of its base weight (also for Conv2d kernels)."""
    if lora_a.dim() == 4:  # Conv2d: A is (r, c_in, k, k), B is (c_out, r, 1, 1)
        delta = torch.einsum("or,rihw->oihw", lora_b.flatten(1), lora_a)
    else:
        delta = lora_b @ lora_a
    return (delta.T if fan_in_fan_out else delta) * scaling


class LoRA(PeftMethod):
    name = "lora"
    family = "weight compression"
    paper = None
    # The papers' GPT-2 E2E figures are BLEU of generated text, which no task here produces (pydocs, also on
    # e2e_nlg, reports perplexity); the README quotes them instead of a leaderboard standing them beside perplexity.
    reported = ()

    settings = {
        **low_rank_settings(rank=PerPreset(4, 4, 8), alpha=PerPreset(8.0, 8.0, 16.0)),
        "target_modules": TARGET_MODULES,
        "dropout": Setting(0.0, "LoRA dropout: probability of zeroing an adapter's input in training", minimum=0,
                           maximum=0.9),
        **training_settings(lr=PerPreset(5e-3, 3e-3, 5e-4), epochs=PerPreset(3, 20, 10),
                            batch_size=PerPreset(64, 64, 128), weight_decay=0.0),
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
        return self.stored_outcome(task, fit, adapters, layout)

    def stored_peft_config(self, artifact: Artifact) -> Any:
        """The rank from the stored A, the scaling as stored (:meth:`load_adapters` sets it exactly),
        no dropout (it acts in training only)."""
        from peft import LoraConfig

        layers = artifact.metadata["layers"]
        rank = artifact.tensors[f"{next(iter(layers))}.lora_A"].shape[0]
        return LoraConfig(r=rank, lora_alpha=artifact.metadata["scaling"] * rank, target_modules=list(layers),
                          fan_in_fan_out=any(spec["fan_in_fan_out"] for spec in layers.values()))

    def load_adapters(self, layers: dict[str, nn.Module], artifact: Artifact) -> None:
        for name, module in layers.items():
            module.lora_A["default"].weight.copy_(artifact.tensors[f"{name}.lora_A"])
            module.lora_B["default"].weight.copy_(artifact.tensors[f"{name}.lora_B"])
            module.scaling["default"] = artifact.metadata["scaling"]  # alpha / rank, not (scaling · rank) / rank

    def merged_weights(self, base: dict[str, torch.Tensor], artifact: Artifact,
                       device: torch.device) -> dict[str, torch.Tensor]:
        tensors, layout = artifact.tensors, artifact.metadata
        return {f"{layer}.weight": base[f"{layer}.weight"]
                + lora_delta(tensors[f"{layer}.lora_A"], tensors[f"{layer}.lora_B"], layout["scaling"],
                             spec["fan_in_fan_out"])
                for layer, spec in layout["layers"].items()}
