"""VeRA through Hugging Face PEFT: a further random-basis baseline beside NOLA and PRANC.

ΔW = Λ_b B Λ_d A for every adapted layer, where A (r × in) and B (out × r) are frozen random
matrices shared by all layers, drawn by PEFT from ``projection_prng_key``, and only the
diagonal scalings λ_d (r) and λ_b (out) train. The artifact stores the λ vectors of every
layer, the task head for new classes (dense), and the key — not A and B
(``save_projection=False``); reconstruction draws A and B again with PEFT's own initialiser.
Targets are LoRA's (:func:`ucdbench_plugins.shared.peft_adapter.auto_targets`): the fused attention
projection of a ViT or GPT-2.
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
from ucdbench_plugins.shared.method_settings import training_settings
from ucdbench_plugins.shared.peft_adapter import TARGET_MODULES, PeftMethod, fit_peft


def vera_projections(key: int, rank: int, in_dim: int, out_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The shared A (rank × in) and B (out × rank), drawn exactly as PEFT draws them."""
    from peft.tuners.vera.model import _kaiming_init

    generator = torch.Generator(device="cpu").manual_seed(key)
    return _kaiming_init((rank, in_dim), generator=generator), _kaiming_init((out_dim, rank), generator=generator)


def vera_delta(a: torch.Tensor, b: torch.Tensor, lambda_d: torch.Tensor, lambda_b: torch.Tensor,
               in_features: int, fan_in_fan_out: bool) -> torch.Tensor:
    """One layer's ΔW in its weight's layout, with the operations of PEFT's ``get_delta_weight``."""
    sliced_a, sliced_b = a[:, :in_features], b[: lambda_b.shape[0], :]
    delta = (lambda_b.unsqueeze(-1) * sliced_b) @ (lambda_d.unsqueeze(-1) * sliced_a)
    return delta.T if fan_in_fan_out else delta


class VeRA(PeftMethod):
    name = "vera"
    family = "weight compression"
    paper = None
    # The papers' GPT-2 E2E figures are BLEU of generated text, which no task here produces (pydocs, also on
    # e2e_nlg, reports perplexity); the README quotes them instead of a leaderboard standing them beside perplexity.
    reported = ()

    settings = {
        "rank": Setting(PerPreset(32, 64, 1024), "rank r of the shared random A (r × in) and B (out × r)", minimum=1),
        "target_modules": TARGET_MODULES,
        "projection_prng_key": Setting(0, "seed PEFT draws the shared A and B from (the artifact stores it, not A and B)",
                                       minimum=0),
        "d_initial": Setting(0.1, "start value of every λ_d (λ_b starts at 0; at λ_d = 0 nothing would train)",
                             minimum=0, exclusive_minimum=True),
        **training_settings(lr=1e-2, epochs=PerPreset(3, 20, 10), batch_size=PerPreset(64, 64, 128)),
    }

    requires = ((ImageClassification, LanguageModeling),)

    def unsupported_reason(self, task: Task) -> str | None:
        if isinstance(task, ImageClassification) and task.architecture != "vit":
            return "PEFT's VeRA adapts Linear layers only: use task.model=vit"
        return None

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        from peft import VeraConfig
        from peft.tuners.vera import VeraLayer

        key = config["projection_prng_key"]
        fit = fit_peft("vera", task, config, ctx, lambda targets, fan_in_fan_out: VeraConfig(
            r=config["rank"], target_modules=targets, projection_prng_key=key, save_projection=False,
            d_initial=config["d_initial"], fan_in_fan_out=fan_in_fan_out), VeraLayer)
        shared_a, shared_b = fit.model.base_model.vera_A["default"], fit.model.base_model.vera_B["default"]
        layout = {"key": key, "rank": config["rank"], "in_dim": shared_a.shape[1], "out_dim": shared_b.shape[0],
                  "head": fit.head, "layers": {name: {"in_features": m.in_features, "fan_in_fan_out": bool(m.fan_in_fan_out)}
                                               for name, m in fit.layers.items()}}
        adapters = {}
        for name, module in fit.layers.items():
            adapters[f"{name}.lambda_d"] = module.vera_lambda_d["default"].detach()
            adapters[f"{name}.lambda_b"] = module.vera_lambda_b["default"].detach()
        return self.stored_outcome(task, fit, adapters, layout)

    def stored_peft_config(self, artifact: Artifact) -> Any:
        """The stored key and rank; the λ vectors' start value does not matter, they are loaded."""
        from peft import VeraConfig

        meta = artifact.metadata
        return VeraConfig(r=meta["rank"], target_modules=list(meta["layers"]), projection_prng_key=meta["key"],
                          save_projection=False,
                          fan_in_fan_out=any(spec["fan_in_fan_out"] for spec in meta["layers"].values()))

    def load_adapters(self, layers: dict[str, nn.Module], artifact: Artifact) -> None:
        for name, module in layers.items():
            module.vera_lambda_d["default"].copy_(artifact.tensors[f"{name}.lambda_d"])
            module.vera_lambda_b["default"].copy_(artifact.tensors[f"{name}.lambda_b"])

    def merged_weights(self, base: dict[str, torch.Tensor], artifact: Artifact,
                       device: torch.device) -> dict[str, torch.Tensor]:
        """A and B drawn again from the stored key."""
        meta, stored = artifact.metadata, artifact.tensors
        a, b = (t.to(device) for t in vera_projections(meta["key"], meta["rank"], meta["in_dim"], meta["out_dim"]))
        return {f"{name}.weight": base[f"{name}.weight"]
                + vera_delta(a, b, stored[f"{name}.lambda_d"], stored[f"{name}.lambda_b"], spec["in_features"],
                             spec["fan_in_fan_out"])
                for name, spec in meta["layers"].items()}
