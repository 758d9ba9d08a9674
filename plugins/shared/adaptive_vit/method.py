"""``avit`` and ``ats``: fine-tune the task's pretrained ViT as an adaptive-compute model.

The Outcome's model drops tokens for real in eval mode, so the harness's FLOPs and latency
see the saving. ``extras["force_compute"]`` is the model's ``forced_compute(mode)`` context
manager ("min" / "max"), which the flops-under-attack evaluation uses for F_max and for its
compute floor. :meth:`_AdaptiveMethod.fit_model` is also how SlowFormer obtains its targets.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import torch

from ucdbench.api import (
    Config, FitContext, ImageClassification, Method, Outcome, PRESETS, PerPreset, ReportedFigure, Setting,
    Task, UcdbenchError, dense_model_outcome, train,
)
from ucdbench_plugins.shared.adaptive_vit.ats import ATS, default_stages
from ucdbench_plugins.shared.adaptive_vit.avit import AViT, default_target_depth
from ucdbench_plugins.shared.adaptive_vit.tokens import AdaptiveViT
from ucdbench_plugins.shared.vision import require_vit

_AVIT_SOURCE = "A-ViT, CVPR 2022: official README (NVlabs/A-ViT), ImageNet-1K"
_SCHEDULE = {
    "smoke": {"epochs": 2, "lr": 1e-3, "batch_size": 64},
    "small": {"epochs": 20, "lr": 1e-3, "batch_size": 64},
    "paper": {"epochs": 100, "lr": 5e-4, "batch_size": 512},
}


def _mean_kept_fraction(model: AdaptiveViT, task: Task, device: torch.device) -> float:
    """Share of token-blocks the model runs on the task's eval inputs (1.0 = dense)."""
    model.eval()
    kept = model.kept_tokens(task.sample_inputs(256, device)).float()
    return float(kept.mean() / kept[:, :1].mean())


class _AdaptiveMethod(Method):
    """Fine-tune the task's pretrained ViT wrapped as an adaptive model, on the task's loss
    plus the method's own term."""

    requires = (ImageClassification,)

    def unsupported_reason(self, task: Task) -> str | None:
        return require_vit(task)

    @abstractmethod
    def build(self, task: Task, config: Config) -> AdaptiveViT:
        """The untrained adaptive model around the task's pretrained ViT."""

    def extra_loss(self, config: Config) -> Callable[[AdaptiveViT], torch.Tensor] | None:
        """The method's term added to the task loss (read from ``model.last_stats``), if any."""
        return None

    def fit_model(self, task: Task, config: Config, ctx: FitContext) -> tuple[AdaptiveViT, dict[str, float]]:
        torch.manual_seed(ctx.seed)
        model = self.build(task, config)
        metrics = train(
            model, task, ctx, params=model.parameters(), epochs=config["epochs"], lr=config["lr"],
            batch_size=config["batch_size"], weight_decay=config["weight_decay"],
            extra_loss=self.extra_loss(config), desc=self.name,
        )
        metrics["kept_token_fraction"] = _mean_kept_fraction(model, task, ctx.device)
        return model, metrics

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        model, metrics = self.fit_model(task, config, ctx)
        return dense_model_outcome(model, metrics, force_compute=model.forced_compute)


class AViTMethod(_AdaptiveMethod):
    """A-ViT (CVPR 2022): halting from the first embedding channel, an ACT-weighted class
    token for the head, ponder + distributional-prior losses (see :mod:`.avit`)."""

    name = "avit"
    reported = (
        ReportedFigure("imagenet", "top1", 71.4, "A-ViT-Tiny (from DeiT-Tiny), 0.8 GMACs", _AVIT_SOURCE,
                       where={"task.model": "deit_tiny_patch16_224"}),
        ReportedFigure("imagenet", "top1", 78.8, "A-ViT-Small (from DeiT-Small), 3.6 GMACs", _AVIT_SOURCE,
                       where={"task.model": "deit_small_patch16_224"}),
    )

    # paper: the official A-ViT-Tiny recipe (README: γ = 10, β = 30, ponder 5e-4, prior 1e-3;
    # get_distribution_target: block 8 of 12). Those weights are for 100 epochs of DeiT-Tiny
    # (12 blocks, 192 channels); a 20-epoch fine-tune of the small presets' 4-block, 64-channel
    # ViT barely halts with them. Re-checked with the ACT head (one seed, small preset):
    # β = 10, ponder 2e-2, prior 0.1 keep 53% (mnist) and 80% (digits) of the token-blocks at
    # the dense fine-tune's top-1 (92.0 vs 91.9, 93.7 vs 93.3); a stronger ponder term cuts
    # more compute at a cost in accuracy, a weaker prior lets mnist halt almost everything
    # after block 1 (89% top-1 at ponder 3e-2, prior 1e-2).
    settings = {
        **{name: Setting(PerPreset(*(_SCHEDULE[p][name] for p in PRESETS)), text, type=kind, minimum=0,
                         exclusive_minimum=True)
           for name, text, kind in (("epochs", "passes over the training split", float),
                                    ("lr", "AdamW learning rate", float), ("batch_size", "images per step", int))},
        "weight_decay": Setting(0.0, "AdamW weight decay", minimum=0),
        "gate_scale": Setting(10.0, "γ of the halting score σ(γ · e[0] − β)"),
        "gate_center": Setting(PerPreset(10.0, 10.0, 30.0), "β of the halting score σ(γ · e[0] − β)"),
        "eps": Setting(0.01, "a token halts once its cumulative score reaches 1 − eps", minimum=0, maximum=1),
        "ponder_weight": Setting(PerPreset(2e-2, 2e-2, 5e-4), "weight of the ponder cost", minimum=0),
        "prior_weight": Setting(PerPreset(0.1, 0.1, 1e-3), "weight of the distributional-prior KL term", minimum=0),
        "target_depth": Setting("auto", "0-based block the prior is centred on (auto: block 8 of 12, scaled to the "
                                "depth)", choices=("auto",), type=int, minimum=1),
    }

    def build(self, task: Task, config: Config) -> AViT:
        vit = task.base_model(pretrained=True)
        target = config["target_depth"]
        if target == "auto":
            target = default_target_depth(len(vit.blocks))
        try:
            return AViT(vit, config["gate_scale"], config["gate_center"], config["eps"], target)
        except ValueError as exc:
            raise UcdbenchError(f"avit: {exc}") from None

    def extra_loss(self, config: Config) -> Callable[[AViT], torch.Tensor]:
        def loss(model: AViT) -> torch.Tensor:
            return model.regulariser(model.last_stats, config["ponder_weight"], config["prior_weight"])

        return loss


class ATSMethod(_AdaptiveMethod):
    """ATS (ECCV 2022): parameter-free sampling in blocks ``stages``, fine-tuned end to end.

    The defaults are the official ATS-DeiT-S setting (adaptivetokensampling/ATS
    configs/ImageNet/DeiT_S.yaml): ``stages="auto"`` is every block from a quarter of the depth
    on (:func:`default_stages`: blocks 3–11 of 12), ``budget=1.0`` its ``NUM_TOKENS: 197`` — every
    stage samples as many points as it has slots, so how many tokens survive depends only on how
    peaked the significance is.
    """

    name = "ats"
    reported = ()

    @classmethod
    def defaults(cls, preset: str) -> Config:
        return {**_SCHEDULE[preset], "weight_decay": 0.0, "stages": "auto", "budget": 1.0}

    def build(self, task: Task, config: Config) -> ATS:
        vit = task.base_model(pretrained=True)
        stages: Any = config["stages"]
        if stages == "auto":
            stages = default_stages(len(vit.blocks))
        if not isinstance(stages, (list, tuple)) or not all(isinstance(s, int) for s in stages):
            raise UcdbenchError(f"ats: stages must be 'auto' or a list of block indices, not {stages!r}")
        try:
            return ATS(vit, tuple(stages), float(config["budget"]))
        except ValueError as exc:
            raise UcdbenchError(f"ats: {exc}") from None
