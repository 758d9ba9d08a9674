"""``avit`` and ``ats``: fine-tune the task's pretrained ViT as an adaptive-compute model.

The Outcome's model drops tokens for real in eval mode, so the harness's FLOPs and latency
see the saving. ``extras["force_compute"]`` is the model's ``forced_compute(mode)`` context
manager ("min" / "max"), which the flops-under-attack evaluation uses for F_max and for its
compute floor. :meth:`_AdaptiveMethod.fit_model` is also how SlowFormer obtains its targets.

The artifact is the model's complete state; its metadata holds the model's constants (A-ViT's
gate and prior, ATS's stages and budget, as :meth:`AdaptiveViT.constants` gives them), so
:meth:`_AdaptiveMethod.rebuild_model` builds the same model from the task's architecture.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

import torch

from ucdbench.api import (
    Artifact, Config, FitContext, ImageClassification, Outcome, PerPreset, PerTask, ReportedFigure, Setting, Task,
    UcdbenchError, expand_dense, initial_model, model_with_state, train,
)
from ucdbench_plugins.shared import papers
from ucdbench_plugins.shared.adaptive_vit.ats import ATS, default_stages
from ucdbench_plugins.shared.adaptive_vit.avit import AViT, default_target_depth
from ucdbench_plugins.shared.adaptive_vit.tokens import AdaptiveViT
from ucdbench_plugins.shared.method_settings import training_settings
from ucdbench_plugins.shared.outcome import DenseModel
from ucdbench_plugins.shared.reported import FULL_IMAGENET, SLOWFORMER_TABLE_1
from ucdbench_plugins.shared.vision import require_vit, vit_parts

_AVIT_SOURCE = f"{SLOWFORMER_TABLE_1}: A-ViT's no-attack row"
CONSTANTS = "adaptive_vit"
"""Key of the model's constants in the artifact's metadata."""

SCHEDULE: dict[str, Setting] = training_settings(epochs=PerPreset(2, 20, 100), lr=PerPreset(1e-3, 1e-3, 5e-4),
                                                 batch_size=PerPreset(64, 64, 512), weight_decay=0.0)
"""The fine-tuning schedule both adaptive ViTs share."""


def _official(*, tiny: Any, small: Any) -> PerTask:
    """A setting of the official A-ViT recipe that differs per model: DeiT-Small's on
    ``deit_small_patch16_224``, DeiT-Tiny's on any other ViT."""
    return PerTask("model", {"deit_small_patch16_224": small}, otherwise=tiny)


def block_indices(value: Any) -> str | None:
    """A setting check: a list is a non-empty list of distinct block indices (integers ≥ 0)."""
    if not isinstance(value, list):
        return None  # a choice ("auto"); the setting's type refuses anything else
    if not value or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value):
        return f"{value!r} is not a non-empty list of block indices (integers ≥ 0), e.g. [1, 2, 3]"
    if len(set(value)) != len(value):
        return f"{value!r} names a block twice"
    return None


def _mean_kept_fraction(model: AdaptiveViT, task: Task, device: torch.device) -> float:
    """Share of token-blocks the model runs on the task's eval inputs (1.0 = dense)."""
    model.eval()
    kept = model.kept_tokens(task.sample_inputs(256, device)).float()
    return float(kept.mean() / kept[:, :1].mean())


class _AdaptiveMethod(DenseModel):
    """Fine-tune the task's pretrained ViT wrapped as an adaptive model, on the task's loss
    plus the method's own term."""

    requires = (ImageClassification,)
    model_class: ClassVar[type[AdaptiveViT]]

    def unsupported_reason(self, task: Task) -> str | None:
        return require_vit(task)

    @abstractmethod
    def constants(self, config: Config, depth: int) -> dict[str, Any]:
        """The model's constants (:meth:`AdaptiveViT.constants`) from ``config`` for a ViT of
        ``depth`` blocks ("auto" settings resolved)."""

    def around(self, task: Task, base: torch.nn.Module,
               constants: dict[str, Any] | Callable[[int], dict[str, Any]]) -> AdaptiveViT:
        """``model_class`` around the ViT inside ``base``, a base model ``task`` built, keeping the
        task's input normalisation (:func:`vit_parts`); ``constants`` are the model's, or a
        function of the ViT's depth giving them. Constants the model refuses are the user's to fix."""
        vit, inputs = vit_parts(task, base)
        if callable(constants):
            constants = constants(len(vit.blocks))
        try:
            return self.model_class(vit, **constants, inputs=inputs)
        except ValueError as exc:
            raise UcdbenchError(f"{self.name}: {exc}") from None

    def build(self, task: Task, config: Config) -> AdaptiveViT:
        """The untrained adaptive model around the task's pretrained ViT."""
        return self.around(task, task.base_model(pretrained=True), partial(self.constants, config))

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
        return self.stored_outcome(task, model, metrics, {CONSTANTS: model.constants()})

    def extras(self, model: AdaptiveViT) -> dict[str, Any]:
        """The model's compute extremes, which ``flops`` and ``flops-under-attack`` read."""
        return {"force_compute": model.forced_compute}

    def rebuild_model(self, task: Task, artifact: Artifact, device: torch.device) -> AdaptiveViT:
        """The task's ViT architecture wrapped with the stored constants, holding the stored state."""
        if CONSTANTS not in artifact.metadata:
            raise UcdbenchError(f"{self.name}: the artifact has no {CONSTANTS!r} metadata: it was not written by "
                                f"{self.name}, or by a version before it stored the model's constants; run it again")
        model = self.around(task, initial_model(task, task.seed), artifact.metadata[CONSTANTS])
        return model_with_state(model.to(device), expand_dense(artifact, device))


class AViTMethod(_AdaptiveMethod):
    """A-ViT (CVPR 2022): halting from the first embedding channel, an ACT-weighted class
    token for the head, ponder + distributional-prior losses (see :mod:`.avit`)."""

    name = "avit"
    family = "adaptive computation"
    paper = None
    reported = (
        ReportedFigure("imagenet", "top1", 71.4, "A-ViT-Tiny (fine-tuned from DeiT-Tiny, β = 30), ImageNet-1K "
                       "(all images, 224 px), clean val images, 0.87 GFLOPs", _AVIT_SOURCE,
                       where={"task.model": "deit_tiny_patch16_224", "gate_center": 30.0, **FULL_IMAGENET}),
        ReportedFigure("imagenet", "top1", 78.8, "A-ViT-Small (fine-tuned from DeiT-Small, β = 75), ImageNet-1K "
                       "(all images, 224 px), clean val images, 3.7 GFLOPs", _AVIT_SOURCE,
                       where={"task.model": "deit_small_patch16_224", "gate_center": 75.0, **FULL_IMAGENET}),
    )

    # paper: the official recipe of the task's model (NVlabs/A-ViT README, per model: γ = 10,
    # ponder 5e-4, prior 1e-3 for both; DeiT-Tiny β = 30, lr 5e-4, 4 GPUs × 128 images;
    # DeiT-Small β = 75, lr 3e-4, 4 × 96; get_distribution_target: block 8 of 12; main_act.py's
    # AdamW weight decay 0.05 — SlowFormer's copy of main_act.py has the same defaults, and its
    # avit/run.sh the Tiny gate). Any other ViT gets the Tiny recipe. Those weights are for 100
    # epochs of DeiT (12 blocks); a 20-epoch fine-tune of the small presets' 4-block, 64-channel
    # ViT barely halts with them. Re-checked with the ACT head (one seed, small preset):
    # β = 10, ponder 2e-2, prior 0.1 keep 53% (mnist) and 80% (digits) of the token-blocks at
    # the dense fine-tune's top-1 (92.0 vs 91.9, 93.7 vs 93.3); a stronger ponder term cuts
    # more compute at a cost in accuracy, a weaker prior lets mnist halt almost everything
    # after block 1 (89% top-1 at ponder 3e-2, prior 1e-2).
    model_class = AViT
    settings = {
        **SCHEDULE,
        **training_settings(lr=PerPreset(1e-3, 1e-3, _official(tiny=5e-4, small=3e-4)),
                            batch_size=PerPreset(64, 64, _official(tiny=512, small=384)),
                            weight_decay=PerPreset(0.0, 0.0, 0.05)),
        "gate_scale": Setting(10.0, "γ of the halting score σ(γ · e[0] − β)", minimum=0, exclusive_minimum=True),
        "gate_center": Setting(PerPreset(10.0, 10.0, _official(tiny=30.0, small=75.0)),
                               "β of the halting score σ(γ · e[0] − β)"),
        "eps": Setting(0.01, "a token halts once its cumulative score reaches 1 − eps", minimum=0, maximum=1),
        "ponder_weight": Setting(PerPreset(2e-2, 2e-2, 5e-4), "weight of the ponder cost", minimum=0),
        "prior_weight": Setting(PerPreset(0.1, 0.1, 1e-3), "weight of the distributional-prior KL term", minimum=0),
        "target_depth": Setting("auto", "0-based block the prior is centred on, below the depth (auto: block 8 of "
                                "12, scaled to the depth)", choices=("auto",), type=int, minimum=1),
    }

    def constants(self, config: Config, depth: int) -> dict[str, Any]:
        target = config["target_depth"]
        return {"gate_scale": config["gate_scale"], "gate_center": config["gate_center"], "eps": config["eps"],
                "target_depth": default_target_depth(depth) if target == "auto" else target}

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
    family = "adaptive computation"
    paper = None
    reported = ()

    model_class = ATS
    settings = {
        **SCHEDULE,
        "stages": Setting("auto", "the blocks that sample tokens, 0-based, each below the depth (auto: every block "
                          "from a quarter of the depth on)", choices=("auto",), type=list, check=block_indices),
        "budget": Setting(1.0, "share of a stage's slots it samples (at least 8 tokens)", minimum=0,
                          exclusive_minimum=True, maximum=1),
    }

    def constants(self, config: Config, depth: int) -> dict[str, Any]:
        stages = config["stages"]
        return {"stages": list(default_stages(depth) if stages == "auto" else stages), "budget": config["budget"]}
