"""LoRA through PEFT: ΔW = (alpha / r) · B · A on the chosen layers of the pretrained base.

The artifact holds each adapted layer's A and B and, for classification tasks with new
classes, the task head (declared dense). Reconstruction is the user's real job with an
adapter: base weights + artifact → the merged dense weights of every adapted layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ucdbench.interfaces import Artifact, Config, FitContext, Method, Outcome, ReportedFigure, Task, UcdbenchError
from ucdbench.training import train


def auto_targets(model: nn.Module) -> list[str]:
    """The layers LoRA adapts by default: fused attention projections where the model has
    them (timm ``qkv``, GPT-2 ``c_attn``), else every Linear/Conv2d except the head."""
    names = [name for name, _ in model.named_modules()]
    for fused in ("qkv", "c_attn"):
        if any(name.split(".")[-1] == fused for name in names):
            return [fused]
    return [name for name, module in model.named_modules()
            if isinstance(module, (nn.Linear, nn.Conv2d)) and not name.startswith("head")]


def lora_delta(lora_a: torch.Tensor, lora_b: torch.Tensor, scaling: float, fan_in_fan_out: bool) -> torch.Tensor:
    """ΔW of one adapted layer, in the layout of its base weight (also for Conv2d kernels)."""
    if lora_a.dim() == 4:  # Conv2d: A is (r, c_in, k, k), B is (c_out, r, 1, 1)
        delta = torch.einsum("or,rihw->oihw", lora_b.flatten(1), lora_a)
    else:
        delta = lora_b @ lora_a
    return (delta.T if fan_in_fan_out else delta) * scaling


def merged_weights(base: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor], layout: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Dense weights = base weight + ΔW for each adapted layer, plus the stored head."""
    dense = {}
    for layer, spec in layout["layers"].items():
        delta = lora_delta(tensors[f"{layer}.lora_A"], tensors[f"{layer}.lora_B"], layout["scaling"], spec["fan_in_fan_out"])
        dense[f"{layer}.weight"] = base[f"{layer}.weight"] + delta
    for name in layout["head"]:
        dense[name] = tensors[name]
    return dense


class LoRA(Method):
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

    def supports(self, task: Task) -> str | None:
        if task.kind not in ("image-classification", "language-modeling"):
            return f"LoRA adapts Linear/Conv layers of a pretrained network; {task.name} is a {task.kind} task"
        return None

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        from peft import LoraConfig, get_peft_model
        from peft.tuners.lora import LoraLayer
        from transformers.pytorch_utils import Conv1D

        base = task.base_model(pretrained=True)
        targets = auto_targets(base) if config["target_modules"] == "auto" else config["target_modules"]
        head = [n for n, _ in base.named_parameters() if n.startswith("head.")] if task.kind == "image-classification" else []
        base_state = {k: v.detach().clone() for k, v in base.state_dict().items()}
        # GPT-2's Conv1D stores weights (in, out): PEFT must know, or ΔW lands transposed.
        fan_in_fan_out = any(isinstance(m, Conv1D) for n, m in base.named_modules() if n.split(".")[-1] in targets)
        try:
            model = get_peft_model(base, LoraConfig(r=config["rank"], lora_alpha=config["alpha"],
                                                    lora_dropout=config["dropout"], target_modules=targets,
                                                    fan_in_fan_out=fan_in_fan_out))
        except ValueError as exc:
            raise UcdbenchError(f"lora: target_modules={targets!r} do not fit this model: {exc}") from exc
        inner = model.base_model.model
        for name, param in inner.named_parameters():
            if name in head:
                param.requires_grad_(True)  # the task's new classes need a trained head, stored dense
        metrics = train(model, task, ctx, params=model.parameters(), epochs=config["epochs"], lr=config["lr"],
                        batch_size=config["batch_size"], weight_decay=config["weight_decay"])

        layers = {name: module for name, module in inner.named_modules() if isinstance(module, LoraLayer)}
        scaling = config["alpha"] / config["rank"]
        layout = {"scaling": scaling, "head": head,
                  "layers": {name: {"fan_in_fan_out": bool(getattr(m, "fan_in_fan_out", False))} for name, m in layers.items()}}

        def adapter_tensors() -> dict[str, torch.Tensor]:
            tensors = {}
            for name, module in layers.items():
                tensors[f"{name}.lora_A"] = module.lora_A["default"].weight.detach()
                tensors[f"{name}.lora_B"] = module.lora_B["default"].weight.detach()
            params = dict(inner.named_parameters())
            tensors.update({name: params[name].detach() for name in head})
            return tensors

        base_on: dict[str, dict[str, torch.Tensor]] = {}

        def reconstruct(artifact: Artifact, device: torch.device) -> dict[str, torch.Tensor]:
            if str(device) not in base_on:  # the user already holds the base model on the device
                base_on[str(device)] = {k: v.to(device) for k, v in base_state.items()}
            return merged_weights(base_on[str(device)], artifact.tensors, artifact.metadata)

        def dense_weights() -> dict[str, torch.Tensor]:
            """PEFT's own merge of the scored model: an independent check of ``reconstruct``."""
            dense = {f"{name}.weight": m.get_base_layer().weight.detach() + m.get_delta_weight("default").detach()
                     for name, m in layers.items()}
            params = dict(inner.named_parameters())
            dense.update({name: params[name].detach() for name in head})
            return dense

        return Outcome(
            model=model,
            artifact=Artifact(adapter_tensors(), layout, dense=tuple(head)),
            reconstruct=reconstruct,
            dense_weights=dense_weights,
            metrics={**metrics, "adapted_layers": float(len(layers))},
        )
