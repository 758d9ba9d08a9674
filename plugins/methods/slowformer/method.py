"""``slowformer``: optimise one universal patch that maximises an adaptive ViT's compute.

The target (``--set target=avit|ats``) is that method fitted on the same task, preset and seed
(cached, so the attack and its defence variants share one target), with its preset defaults
updated by ``target_settings`` (a JSON object of the target method's own settings, each checked
by that setting, e.g. ``{"stages": [3, 4, 5, 6, 7, 8, 9]}`` for an ATS with as many stages as
the ATS objective has weights). The model is frozen; the
patch is optimised with AdamW (lr 0.2, no weight decay) on the target's objective from
:mod:`.losses` and projected to 8-bit pixels after every step. The Outcome's model is the
target, its ``input_transform`` the patch; ``extras`` carry what the flops-under-attack
evaluation needs (``force_compute``, ``control_transform``; ``undefended`` with
``defense=adv-train``).

``defense=adv-train`` fine-tunes the target with the attack in the loop — each step first
updates a patch against the current model, then trains the model on clean and patched images
with its own objective (task loss + its compute regulariser) — and then attacks the defended
model with a fresh patch. The attack on the undefended target is kept as ``undefended``, so
one record shows attack success before and after the defence.

The complete state of an attack's outcome is the patch and the model it is scored against
(under ``target.``). The artifact stores the patch; the target is the task's avit/ats model as
its own method fits it (what the attacker is given), except with ``defense=adv-train``, where
the defended model is this run's product and is stored whole, as dense tensors, beside the patch
that attacked the undefended target (``undefended_patch``, which the figures before the defence
need). The artifact's metadata records the target, its resolved configuration and its model's
constants, so :meth:`SlowFormer.rebuild_model` gives the attacked model from the file and the
task alone, and :meth:`SlowFormer.rebuild_outcome` the whole outcome (the random control patch is
drawn again from the task's seed). The reconstruction evaluation compares every part.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch

from ucdbench.api import (
    Artifact, ArtifactKind, Config, ControlRow, DivergedError, EpochCurve, FitContext, ImageClassification, Method, Outcome, PerPreset, Reconstruct,
    ReportedFigure, Setting, Task, UcdbenchError, cached_tensors, initial_model, model_with_state, progress_bar,
    stored_dense,
)
from ucdbench_plugins.shared import papers
from ucdbench_plugins.shared.adaptive_vit.method import ATSMethod, AViTMethod
from ucdbench_plugins.shared.adaptive_vit.tokens import AdaptiveViT
from ucdbench_plugins.methods.slowformer.losses import check_target, compute_loss
from ucdbench_plugins.methods.slowformer.patch import POSITIONS, PatchTransform, patch_side, random_patch
from ucdbench_plugins.shared.reported import FULL_IMAGENET, SLOWFORMER_TABLE_1, SLOWFORMER_TABLE_4
from ucdbench_plugins.shared.vision import require_vit

TARGETS = {"avit": AViTMethod, "ats": ATSMethod}
DEFENSES = ("none", "adv-train")
TARGET = "target."
"""Prefix of the attacked model's state among the complete state of an attack."""
PATCH = "patch"
"""The artifact's tensor of the patch the scored model is attacked with."""
UNDEFENDED_PATCH = "undefended_patch"
"""With a defence, the artifact's tensor of the patch that attacked the target before it."""
def _table_1(target: str, backbone: str, model: str, clean: float, attacked: float, most: float, clean_top1: float,
             attacked_top1: float, success: float) -> tuple[ReportedFigure, ...]:
    """One row of SlowFormer's Table 1 (ImageNet-1K val, a 64×64 patch: 8% of the 224-pixel image,
    no defence): compute (fvcore's count, which the paper calls GFLOPs and this suite GMACs) and
    top-1 without and with the patch, the compute with nothing halted, and attack success."""
    setting = (f"{target} on {backbone}, ImageNet-1K (all images, 224 px), 64×64 patch (area 0.08), "
               "no defence")
    where = {"target": target, "task.model": model, "area": 0.08, "defense": "none", **FULL_IMAGENET}
    return tuple(ReportedFigure("imagenet", f"flops-under-attack/{figure}", value, f"{setting}; {what}",
                                SLOWFORMER_TABLE_1, where)
                 for figure, value, what in (
                     ("clean_gmacs_mean", clean, "clean images (F_min)"),
                     ("attacked_gmacs_mean", attacked, "patched images"),
                     ("gmacs_max", most, "nothing halted (F_max)"),
                     ("clean_top1", clean_top1, "top-1 of clean images"),
                     ("attacked_top1", attacked_top1, "top-1 of patched images"),
                     ("attack_success", success, "attack success")))


def _table_4(backbone: str, model: str, side: int, success: float) -> ReportedFigure:
    """SlowFormer's Table 4: attack success on A-ViT by patch side (area = (side / 224)², which the
    suite's ``area`` rounds back to that side)."""
    return ReportedFigure("imagenet", "flops-under-attack/attack_success", success,
                          f"avit on {backbone}, ImageNet-1K (all images, 224 px), {side}×{side} patch "
                          f"(area {(side / 224) ** 2:.3g}), no defence; attack success", SLOWFORMER_TABLE_4,
                          {"target": "avit", "task.model": model, "area": round((side / 224) ** 2, 2),
                           "defense": "none", **FULL_IMAGENET})


def target_settings_problem(target: str, values: dict[str, Any]) -> str | None:
    """What is wrong with ``values`` as settings of the ``target`` method (unknown names, values
    its settings do not allow), or None."""
    settings = TARGETS[target].settings
    unknown = sorted(set(values) - set(settings))
    if unknown:
        return f"{target} has no setting {', '.join(map(repr, unknown))}; its settings: {', '.join(settings)}"
    problems = [f"{key}={value!r}: {problem}" for key, value in values.items()
                if (problem := settings[key].problem(value))]
    return "; ".join(problems) or None


def _settings_of_a_target(values: dict[str, Any]) -> str | None:
    """The check of ``target_settings`` before any run starts, where the target is not known:
    settings some target takes (the chosen target's own check follows in ``fit``)."""
    problems = {target: target_settings_problem(target, values) for target in TARGETS}
    if any(problem is None for problem in problems.values()):
        return None
    return "; ".join(f"as {target}'s: {problem}" for target, problem in problems.items())


def _below_one(area: float) -> str | None:
    return None if area < 1 else f"{area!r} covers the whole image: give a fraction below 1"


def target_config(target: str, values: dict[str, Any], preset: str, task_config: Config) -> Config:
    """The target's configuration: its method's defaults at ``preset`` for the task (those
    that follow the task's model resolved, as a run of the target on it resolves them)
    updated by ``values``."""
    problem = target_settings_problem(target, values)
    if problem:
        raise UcdbenchError(f"slowformer: target_settings={values!r} for target={target}: {problem}")
    defaults = {name: setting.default_at(preset, task_config) for name, setting in TARGETS[target].settings.items()}
    return {**defaults, **values}


def load_target(task: Task, target: str, config: Config, ctx: FitContext) -> AdaptiveViT:
    """The target fitted by its own method with ``config``, cached per task and seed (and, as
    every cache entry, per version of the code behind it). A target SlowFormer's objective
    cannot attack is refused before anything is trained (the task's base included)."""
    method = TARGETS[target]()
    # the architecture; the state comes from the fitted target
    model = method.around(task, initial_model(task, ctx.seed), partial(method.constants, config))
    check_target(model)
    key = {"target": target, "task": task.name, "task_config": task.config, "preset": ctx.preset,
           "seed": ctx.seed, "config": config}
    state = cached_tensors("slowformer-targets", key, lambda: method.fit_model(task, config, ctx)[0].state_dict())
    model.load_state_dict(state)
    return model.to(ctx.device).eval()


def new_patch(task: Task, config: Config, seed: int) -> PatchTransform:
    side = patch_side(task.image_size, config["area"])
    start = random_patch(task.in_chans, side, torch.Generator().manual_seed(seed))
    return PatchTransform(start.requires_grad_(True), task.image_size, config["position"])


def attack(model: AdaptiveViT, task: Task, config: Config, ctx: FitContext, desc: str,
           curve: str = "attack_loss") -> tuple[PatchTransform, float]:
    """Optimise a patch against the frozen ``model``, logging each epoch's mean loss as
    ``curve``; returns the patch and its mean loss over the last 10% of steps."""
    transform = new_patch(task, config, ctx.seed).to(ctx.device)
    optimizer = torch.optim.AdamW([transform.patch], lr=config["lr"], weight_decay=0.0)
    model.eval().requires_grad_(False)
    batches = list(task.train_batches(config["batch_size"], config["epochs"]))
    losses = []
    epoch_losses = EpochCurve(ctx.curves, curve, len(batches), config["epochs"])
    for step, (images, _) in enumerate(ctx.progress(batches, desc=desc, total=len(batches))):
        loss = _attack_step(model, transform, optimizer, images.to(ctx.device))
        losses.append(loss)
        epoch_losses.add(step, loss)
    model.requires_grad_(True)
    transform.patch.requires_grad_(False)
    tail = losses[-max(1, len(losses) // 10):]
    return transform, sum(tail) / len(tail)


def _attack_step(model: AdaptiveViT, transform: PatchTransform, optimizer: torch.optim.Optimizer,
                 images: torch.Tensor) -> float:
    _, stats = model.forward_masked(transform(images))
    loss = compute_loss(model, stats)
    if not torch.isfinite(loss):
        raise DivergedError(f"SlowFormer attack loss became {loss.item()}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    transform.project_()
    return loss.item()


def adversarial_training(model: AdaptiveViT, method: Any, target_config: Config, task: Task, config: Config,
                         ctx: FitContext) -> dict[str, float]:
    """Fine-tune ``model`` in place against a patch that is re-optimised at every step."""
    transform = new_patch(task, config, ctx.seed + 1).to(ctx.device)
    patch_optimizer = torch.optim.AdamW([transform.patch], lr=config["lr"], weight_decay=0.0)
    model_optimizer = torch.optim.AdamW(model.parameters(), lr=config["defense_lr"], weight_decay=0.0)
    extra = method.extra_loss(target_config)
    batches = list(task.train_batches(config["batch_size"], config["defense_epochs"]))
    losses = []
    curve = EpochCurve(ctx.curves, "defense_train_loss", len(batches), config["defense_epochs"])
    for step, (images, labels) in enumerate(ctx.progress(batches, desc="adv-train", total=len(batches))):
        images = images.to(ctx.device)
        model.eval().requires_grad_(False)
        _attack_step(model, transform, patch_optimizer, images)
        model.train().requires_grad_(True)
        with torch.no_grad():
            patched = transform(images)
        batch = (torch.cat([images, patched]), torch.cat([labels, labels]))
        loss = task.loss(model, batch, ctx.device)
        if extra is not None:
            loss = loss + extra(model)
        if not torch.isfinite(loss):
            raise DivergedError(f"adversarial training loss became {loss.item()}")
        model_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        model_optimizer.step()
        losses.append(loss.item())
        curve.add(step, losses[-1])
    model.eval()
    tail = losses[-max(1, len(losses) // 10):]
    return {"defense_train_loss": sum(tail) / len(tail)}


class SlowFormer(Method):
    name = "slowformer"
    family = "adversarial attack"
    paper = papers.SLOWFORMER
    reported = (
        *_table_1("avit", "ViT-Tiny (DeiT-Tiny)", "deit_tiny_patch16_224", 0.87, 1.3, 1.3, 71.4, 4.7, 100),
        *_table_1("avit", "ViT-Small (DeiT-Small)", "deit_small_patch16_224", 3.7, 4.6, 4.6, 78.8, 2.3, 99),
        *_table_1("ats", "ViT-Tiny (DeiT-Tiny)", "deit_tiny_patch16_224", 0.84, 1.0, 1.3, 70.3, 1.2, 35),
        *_table_1("ats", "ViT-Small (DeiT-Small)", "deit_small_patch16_224", 3.1, 4.0, 4.6, 79.2, 1.0, 60),
        *_table_1("ats", "ViT-Base (DeiT-Base)", "deit_base_patch16_224", 12.6, 15.4, 17.6, 81.3, 0.2, 52),
        _table_4("ViT-Tiny (DeiT-Tiny)", "deit_tiny_patch16_224", 32, 90),
        _table_4("ViT-Small (DeiT-Small)", "deit_small_patch16_224", 32, 78),
    )

    requires = (ImageClassification,)
    settings = {
        "target": Setting("avit", "the adaptive ViT attacked, fitted by its own method on the same task, preset and "
                          "seed", choices=tuple(TARGETS)),
        "target_settings": Setting({}, "the target method's own settings over its preset defaults, as a JSON "
                                   "object (e.g. {\"stages\": [3, 4, 5]} for ats)", check=_settings_of_a_target),
        "area": Setting(0.08, "patch area as a fraction of the image, below 1", minimum=0, exclusive_minimum=True,
                        check=_below_one),
        "position": Setting("top-left", "where the patch is pasted", choices=POSITIONS),
        "lr": Setting(0.2, "AdamW learning rate of the patch (no weight decay)", minimum=0, exclusive_minimum=True),
        "epochs": Setting(PerPreset(1, 5, 1), "passes over the training split optimising the patch",
                          type=(int, float), minimum=0, exclusive_minimum=True),
        "batch_size": Setting(PerPreset(64, 64, 128), "images per patch step", minimum=1),
        "defense": Setting("none", "adv-train: fine-tune the target against a patch re-optimised every step, then "
                           "attack the defended model", choices=DEFENSES),
        "defense_lr": Setting(5e-4, "AdamW learning rate of adversarial training", minimum=0, exclusive_minimum=True),
        "defense_epochs": Setting(PerPreset(1, 10, 10), "passes over the training split of adversarial training",
                                  type=(int, float), minimum=0, exclusive_minimum=True),
    }

    def unsupported_reason(self, task: Task) -> str | None:
        return require_vit(task)

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        torch.manual_seed(ctx.seed)
        target = config["target"]
        target_cfg = target_config(target, config["target_settings"], ctx.preset, task.config)
        model = load_target(task, target, target_cfg, ctx)
        transform, attack_loss = attack(model, task, config, ctx, desc="slowformer")
        metrics = {"attack_loss": attack_loss, "patch_side": float(transform.side),
                   "patch_area_fraction": transform.area_fraction}
        undefended = None
        tensors = {}
        if config["defense"] == "adv-train":
            undefended = (model, transform)
            tensors[UNDEFENDED_PATCH] = transform.patch.detach().clone()  # the figures before the defence
            model = load_target(task, target, target_cfg, ctx)
            metrics.update(adversarial_training(model, TARGETS[target](), target_cfg, task, config, ctx))
            metrics["undefended_attack_loss"] = attack_loss
            transform, metrics["attack_loss"] = attack(model, task, config, ctx, desc="slowformer (defended)",
                                                       curve="attack_loss_defended")
            # the defended model is this run's product: stored as it is
            tensors.update({f"{TARGET}{name}": t.detach().clone() for name, t in model.state_dict().items()})
        tensors[PATCH] = transform.patch.detach().clone()
        metadata = {"target": target, "target_config": target_cfg, "target_constants": model.constants(),
                    "position": config["position"], "image_size": task.image_size, "defense": config["defense"]}
        artifact = Artifact(tensors, metadata=metadata, dense=tuple(name for name in tensors if name.startswith(TARGET)),
                            kind=ArtifactKind.INPUT_TRANSFORM if undefended is None else ArtifactKind.MODEL)
        return self.outcome(task, artifact, model, transform, undefended, metrics)

    def rebuild_outcome(self, task: Task, artifact: Artifact | None, device: torch.device) -> Outcome:
        """The attacked model and the patch from the artifact; with a defence, also the target as its
        own method fits it and the patch that attacked it."""
        if artifact is None:
            raise UcdbenchError("slowformer: the run stored no artifact, so there is no outcome to rebuild; run it again")
        undefended = None
        if UNDEFENDED_PATCH in artifact.tensors:
            undefended = (fitted_target(task, artifact.metadata, device), stored_patch(artifact, UNDEFENDED_PATCH))
        return self.outcome(task, artifact, attacked_model(task, artifact, device), stored_patch(artifact, PATCH),
                            undefended)

    @staticmethod
    def outcome(task: Task, artifact: Artifact, model: AdaptiveViT, transform: PatchTransform,
                undefended: tuple[AdaptiveViT, PatchTransform] | None,
                metrics: dict[str, float] | None = None) -> Outcome:
        """The Outcome of an attack: ``model`` scored under ``transform``, the random control patch
        of the same size drawn again from the task's seed, and with a defence, ``undefended`` (the
        target and its patch) for the figures before it. Without a defence the artifact is the
        patch alone (an input transform of the target's model, whose row is the clean control);
        with one, the defended model is this run's product."""
        control = PatchTransform(random_patch(task.in_chans, transform.side, torch.Generator().manual_seed(task.seed + 2)),
                                 task.image_size, artifact.metadata["position"]).to(transform.patch.device)
        extras: dict[str, Any] = {"control_transform": control, "force_compute": model.forced_compute}
        patches = {PATCH: transform}
        if undefended is not None:
            before, patches[UNDEFENDED_PATCH] = undefended
            extras["undefended"] = {"model": before, "input_transform": undefended[1],
                                    "force_compute": before.forced_compute, "control_transform": control}
        return Outcome(
            model=model,
            artifact=artifact,
            reconstruct=attack_reconstructor(task),
            dense_weights=lambda: {**{name: patch.patch.detach() for name, patch in patches.items()},
                                   **{f"{TARGET}{name}": t for name, t in model.state_dict().items()}},
            input_transform=transform,
            metrics=dict(metrics or {}),
            extras=extras,
            clean_control=ControlRow(artifact.metadata["target"], artifact.metadata["target_config"]),
        )

    def rebuild_model(self, task: Task, artifact: Artifact, device: torch.device) -> AdaptiveViT:
        """The model the patch is scored against (the patch itself is the artifact's ``patch``)."""
        return attacked_model(task, artifact, device)


def stored_patch(artifact: Artifact, name: str) -> PatchTransform:
    """The stored patch ``name`` as the transform that pastes it where the run pasted it."""
    metadata = artifact.metadata
    return PatchTransform(artifact.tensors[name], metadata["image_size"], metadata["position"])


def fitted_target(task: Task, metadata: dict[str, Any], device: torch.device) -> AdaptiveViT:
    """The task's target as its own method fits it with the recorded configuration (cached), frozen
    in eval mode: what the attacker is given."""
    ctx = FitContext(device=device, seed=task.seed, preset=task.preset, progress=progress_bar)
    with torch.random.fork_rng():
        model = load_target(task, metadata["target"], metadata["target_config"], ctx)
    return model.requires_grad_(False).eval()


def attacked_model(task: Task, artifact: Artifact, device: torch.device) -> AdaptiveViT:
    """The model an attack is scored against, from its artifact and the task, frozen in eval
    mode: the stored defended model around the task's architecture, or else
    :func:`fitted_target`."""
    metadata = artifact.metadata
    stored = stored_dense(artifact, device)
    if stored:
        model = TARGETS[metadata["target"]]().around(task, initial_model(task, task.seed),
                                                     metadata["target_constants"])
        return model_with_state(model.to(device), {name[len(TARGET):]: tensor for name, tensor in stored.items()})
    return fitted_target(task, metadata, device)


def attack_reconstructor(task: Task) -> Reconstruct:
    """artifact, device → the complete state of an attack: its patches and, under ``target.``,
    the model it attacks (:func:`attacked_model`; the target a run did not train is held once,
    as its user holds it)."""
    held: dict[str, AdaptiveViT] = {}

    def reconstruct(artifact: Artifact, device: torch.device) -> dict[str, torch.Tensor]:
        stored = stored_dense(artifact, device)
        if not stored:
            if "target" not in held:
                held["target"] = attacked_model(task, artifact, device)
            stored = {f"{TARGET}{name}": t.to(device) for name, t in held["target"].state_dict().items()}
        patches = {name: artifact.tensors[name].to(device) for name in (PATCH, UNDEFENDED_PATCH)
                   if name in artifact.tensors}
        return {**patches, **stored}

    return reconstruct
