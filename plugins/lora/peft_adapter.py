"""What every PEFT-based adapter method does the same way (LoRA, VeRA): wrap the task's
pretrained base, train the adapters and a new-class head, and merge for the reconstruction check.

Only the PEFT config, what the artifact stores and how it rebuilds ΔW differ per method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ucdbench.interfaces import Config, FitContext, Task, UcdbenchError
from ucdbench.training import train


def auto_targets(model: nn.Module) -> list[str]:
    """The layers adapted by default: fused attention projections where the model has them
    (timm ``qkv``, GPT-2 ``c_attn``), else every Linear/Conv2d except the head."""
    names = [name for name, _ in model.named_modules()]
    for fused in ("qkv", "c_attn"):
        if any(name.split(".")[-1] == fused for name in names):
            return [fused]
    return [name for name, module in model.named_modules()
            if isinstance(module, (nn.Linear, nn.Conv2d)) and not name.startswith("head")]


@dataclass
class PeftFit:
    """A trained PEFT model and what its artifact and checks need."""

    model: nn.Module
    inner: nn.Module
    layers: dict[str, nn.Module]
    head: list[str]
    base_state: dict[str, torch.Tensor]
    metrics: dict[str, float]

    def head_tensors(self) -> dict[str, torch.Tensor]:
        """The new-class head, stored dense."""
        params = dict(self.inner.named_parameters())
        return {name: params[name].detach() for name in self.head}

    def merged_weights(self) -> dict[str, torch.Tensor]:
        """PEFT's own merge of the scored model: an independent check of a method's reconstruction."""
        dense = {f"{name}.weight": m.get_base_layer().weight.detach() + m.get_delta_weight("default").detach()
                 for name, m in self.layers.items()}
        return {**dense, **self.head_tensors()}

    def base_on(self) -> Callable[[torch.device], dict[str, torch.Tensor]]:
        """device → the base weights there, copied once: the user already holds the base model."""
        copies: dict[str, dict[str, torch.Tensor]] = {}

        def on(device: torch.device) -> dict[str, torch.Tensor]:
            if str(device) not in copies:
                copies[str(device)] = {k: v.to(device) for k, v in self.base_state.items()}
            return copies[str(device)]

        return on


def fit_peft(method: str, task: Task, config: Config, ctx: FitContext,
             peft_config: Callable[[list[str], bool], Any], layer_type: type) -> PeftFit:
    """Wrap the pretrained base with ``peft_config(targets, fan_in_fan_out)`` and train.

    GPT-2's Conv1D stores weights (in, out), so PEFT is told ``fan_in_fan_out`` or ΔW lands
    transposed. For image tasks the head (new classes) trains too and is stored dense.
    """
    from peft import get_peft_model
    from transformers.pytorch_utils import Conv1D

    base = task.base_model(pretrained=True)
    targets = auto_targets(base) if config["target_modules"] == "auto" else config["target_modules"]
    head = [n for n, _ in base.named_parameters() if n.startswith("head.")] if task.kind == "image-classification" else []
    base_state = {k: v.detach().clone() for k, v in base.state_dict().items()}
    fan_in_fan_out = any(isinstance(m, Conv1D) for n, m in base.named_modules() if n.split(".")[-1] in targets)
    try:
        model = get_peft_model(base, peft_config(targets, fan_in_fan_out))
    except ValueError as exc:
        raise UcdbenchError(f"{method}: target_modules={targets!r} do not fit this model: {exc}") from exc
    inner = model.base_model.model
    for name, param in inner.named_parameters():
        if name in head:
            param.requires_grad_(True)
    metrics = train(model, task, ctx, params=model.parameters(), epochs=config["epochs"], lr=config["lr"],
                    batch_size=config["batch_size"], weight_decay=config.get("weight_decay", 0.0))
    layers = {name: m for name, m in inner.named_modules() if isinstance(m, layer_type)}
    return PeftFit(model, inner, layers, head, base_state, {**metrics, "adapted_layers": float(len(layers))})
