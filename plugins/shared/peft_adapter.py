"""What every PEFT-based adapter method does the same way (LoRA, VeRA): wrap the task's
pretrained base, train the adapters and a new-class head, store them with the model's buffers,
rebuild the complete merged state from the artifact on the task's base, and merge with PEFT
for the reconstruction check.

The scored model is the PEFT-wrapped one (its adapters unmerged, as trained): its FLOPs and
latency are the adapters' too. An outcome rebuilt from the artifact wraps the task's base again
with the PEFT config the artifact describes and loads the stored adapters, head and buffers, so
it scores exactly as the fitted one.

Only the PEFT config, what the artifact stores and how it rebuilds ΔW differ per method.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ucdbench.api import (
    Artifact, ArtifactKind, Config, FitContext, ImageClassification, Outcome, Task, UcdbenchError, held_base, model_with_state,
    persistent_buffers, pretrained_base, state_with, stored_dense, train,
)
from ucdbench_plugins.shared.method_settings import targets_setting
from ucdbench_plugins.shared.outcome import ModelOutcome


def auto_targets(model: nn.Module) -> list[str]:
    """The layers adapted by default: fused attention projections where the model has them
    (timm ``qkv``, GPT-2 ``c_attn``), else every Linear/Conv2d except the head."""
    names = [name for name, _ in model.named_modules()]
    for fused in ("qkv", "c_attn"):
        if any(name.split(".")[-1] == fused for name in names):
            return [fused]
    return [name for name, module in model.named_modules()
            if isinstance(module, (nn.Linear, nn.Conv2d)) and not name.startswith("head")]


TARGET_MODULES = targets_setting("the layers PEFT adapts (module names or their last parts); auto: the fused "
                                 "attention projection (timm qkv, GPT-2 c_attn) where the model has one, else every "
                                 "Linear/Conv2d but the head")
"""The ``target_modules`` setting of every PEFT method (:func:`auto_targets` is what ``auto`` means)."""


@dataclass
class PeftFit:
    """A trained PEFT model and what its artifact and checks need."""

    model: nn.Module
    inner: nn.Module
    layers: dict[str, nn.Module]
    head: list[str]
    metrics: dict[str, float]

    def head_tensors(self) -> dict[str, torch.Tensor]:
        """The new-class head, stored dense."""
        params = dict(self.inner.named_parameters())
        return {name: params[name].detach() for name in self.head}

    def stored(self, adapters: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], tuple[str, ...]]:
        """The artifact's tensors and its dense names: ``adapters``, the head, and every buffer
        of the model (BatchNorm statistics, which training updates in the frozen base)."""
        buffers = {name: t.detach().clone() for name, t in persistent_buffers(self.model.get_base_model()).items()}
        dense = {**self.head_tensors(), **buffers}
        return {**adapters, **dense}, tuple(dense)


def merged_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The complete state of a PEFT-wrapped model as PEFT's own merge gives it (on a copy, so the
    scored model keeps its adapters): an independent check of a method's reconstruction."""
    return copy.deepcopy(model).merge_and_unload().state_dict()


class PeftMethod(ModelOutcome, ABC):
    """A method trained through PEFT: its outcome, reconstruction and rebuilt model, given how
    its stored adapters become merged weights (:meth:`merged_weights`), the PEFT config they were
    trained with (:meth:`stored_peft_config`) and how they load into PEFT's layers
    (:meth:`load_adapters`)."""

    @abstractmethod
    def merged_weights(self, base: dict[str, torch.Tensor], artifact: Artifact,
                       device: torch.device) -> dict[str, torch.Tensor]:
        """base weight + ΔW of every adapted layer, from the artifact (on ``device``)."""

    @abstractmethod
    def stored_peft_config(self, artifact: Artifact) -> Any:
        """The PEFT config of the artifact's adapters (its ``layers`` as the targets), from the artifact alone."""

    @abstractmethod
    def load_adapters(self, layers: dict[str, nn.Module], artifact: Artifact) -> None:
        """Copy the stored adapters into PEFT's adapted ``layers`` (by module name), in place."""

    def stored_outcome(self, task: Task, fit: PeftFit, adapters: dict[str, torch.Tensor],
                       layout: dict[str, Any]) -> Outcome:
        """``fit``'s Outcome: its artifact holds ``adapters`` with ``layout`` as metadata, the head
        and the buffers dense."""
        tensors, dense = fit.stored(adapters)
        return self.outcome(task, fit.model, Artifact(tensors, layout, dense=dense, kind=ArtifactKind.ADAPTER), fit.metrics)

    def outcome(self, task: Task, model: nn.Module, artifact: Artifact,
                metrics: dict[str, float] | None = None) -> Outcome:
        """The PEFT-wrapped ``model``, reconstruction on the task's base held once per device, and
        PEFT's merge of ``model`` as the state to compare with."""
        base_on = held_base(task)
        return Outcome(model=model, artifact=artifact,
                       reconstruct=lambda stored, device: self.adapted_state(base_on(device), stored, device),
                       dense_weights=lambda: merged_state(model), metrics=dict(metrics or {}))

    def scored_model(self, task: Task, artifact: Artifact, device: torch.device) -> nn.Module:
        """The PEFT-wrapped model fit scored: the task's base wrapped with the stored config, holding
        the stored adapters, head and buffers (frozen, in eval mode)."""
        with torch.random.fork_rng():  # PEFT initialises adapters that the stored ones replace
            model = peft_model(self.name, task.base_model(pretrained=True), self.stored_peft_config(artifact))
        inner = model.base_model.model
        with torch.no_grad():
            self.load_adapters({name: inner.get_submodule(name) for name in artifact.metadata["layers"]}, artifact)
            unknown = inner.load_state_dict(stored_dense(artifact, "cpu"), strict=False).unexpected_keys
        if unknown:
            raise UcdbenchError(f"{self.name}: the artifact's dense tensors {unknown[:5]} are not in the task's base "
                                "model: it was written for another task configuration")
        return model.to(device).requires_grad_(False).eval()

    def adapted_state(self, base: nn.Module, artifact: Artifact, device: torch.device) -> dict[str, torch.Tensor]:
        """The complete state the artifact describes on ``base`` (the task's pretrained model, on
        ``device``): merged adapted weights, the stored head and buffers, the rest the base's."""
        with torch.no_grad():
            params = {name: p.detach() for name, p in base.named_parameters()}
            return state_with(base, {**self.merged_weights(params, artifact, device), **stored_dense(artifact, device)})

    def rebuild_model(self, task: Task, artifact: Artifact, device: torch.device) -> nn.Module:
        """The merged model: the task's pretrained base holding the adapted state (it scores like
        the PEFT-wrapped model up to float rounding of the merge)."""
        base = pretrained_base(task).to(device)
        return model_with_state(base, self.adapted_state(base, artifact, device))


def fit_peft(method: str, task: Task, config: Config, ctx: FitContext,
             peft_config: Callable[[list[str], bool], Any], layer_type: type) -> PeftFit:
    """Wrap the pretrained base with ``peft_config(targets, fan_in_fan_out)`` and train.

    GPT-2's Conv1D stores weights (in, out), so PEFT is told ``fan_in_fan_out`` or ΔW lands
    transposed. For image tasks the head (new classes) trains too and is stored dense.
    """
    from transformers.pytorch_utils import Conv1D

    base = task.base_model(pretrained=True)
    targets = auto_targets(base) if config["target_modules"] == "auto" else config["target_modules"]
    head = task.head_parameters(base) if isinstance(task, ImageClassification) else []
    fan_in_fan_out = any(isinstance(m, Conv1D) for n, m in base.named_modules() if n.split(".")[-1] in targets)
    model = peft_model(method, base, peft_config(targets, fan_in_fan_out))
    inner = model.base_model.model
    for name, param in inner.named_parameters():
        if name in head:
            param.requires_grad_(True)
    metrics = train(model, task, ctx, params=model.parameters(), epochs=config["epochs"], lr=config["lr"],
                    batch_size=config["batch_size"], weight_decay=config.get("weight_decay", 0.0))
    layers = {name: m for name, m in inner.named_modules() if isinstance(m, layer_type)}
    return PeftFit(model, inner, layers, head, {**metrics, "adapted_layers": float(len(layers))})


def peft_model(method: str, base: nn.Module, config: Any) -> nn.Module:
    """``base`` wrapped by PEFT with ``config``; targets that do not fit it are the user's to fix."""
    from peft import get_peft_model

    try:
        return get_peft_model(base, config)
    except ValueError as exc:
        targets = config.target_modules  # PEFT keeps a list of names as a set
        shown = sorted(targets) if isinstance(targets, set) else targets
        raise UcdbenchError(f"{method}: target_modules={shown!r} do not fit this model: {exc}") from exc
