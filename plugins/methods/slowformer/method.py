"""``slowformer``: optimise one universal patch that maximises an adaptive ViT's compute.

The target (``--set target=avit|ats``) is that method fitted on the same task, preset and seed
(cached, so the attack and its defence variants share one target). The model is frozen; the
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
the defended model is this run's product and is stored whole, as dense tensors. The
reconstruction evaluation compares both parts.
"""

from __future__ import annotations

from typing import Any

import torch

from ucdbench.api import (
    Artifact, Config, DivergedError, FitContext, ImageClassification, Method, Outcome, Reconstruct,
    ReportedFigure, Task, UcdbenchError, cached_tensors, stored_dense,
)
from ucdbench_plugins.shared.adaptive_vit.method import ATSMethod, AViTMethod
from ucdbench_plugins.shared.adaptive_vit.tokens import AdaptiveViT
from ucdbench_plugins.methods.slowformer.losses import compute_loss
from ucdbench_plugins.methods.slowformer.patch import POSITIONS, PatchTransform, patch_side, random_patch
from ucdbench_plugins.shared.vision import require_vit

TARGETS = {"avit": AViTMethod, "ats": ATSMethod}
DEFENSES = ("none", "adv-train")
TARGET = "target."
"""Prefix of the attacked model's state among the complete state of an attack."""
_SOURCE = "SlowFormer, CVPR 2024: official avit/engine_act.py (evaluate), ImageNet val, fvcore GMACs"
_TINY = {"target": "avit", "task.model": "deit_tiny_patch16_224"}
_SMALL = {"target": "avit", "task.model": "deit_small_patch16_224"}


def load_target(task: Task, target: str, ctx: FitContext) -> tuple[AdaptiveViT, Any, Config]:
    """The target fitted by its own method with its preset defaults, cached per task and seed
    (and, as every cache entry, per version of the code behind it)."""
    method = TARGETS[target]()
    config = method.defaults(ctx.preset)
    model = method.build(task, config)
    key = {"target": target, "task": task.name, "task_config": task.config, "preset": ctx.preset,
           "seed": ctx.seed, "config": config}
    state = cached_tensors("slowformer-targets", key, lambda: method.fit_model(task, config, ctx)[0].state_dict())
    model.load_state_dict(state)
    return model.to(ctx.device).eval(), method, config


def new_patch(task: Task, config: Config, seed: int) -> PatchTransform:
    side = patch_side(task.image_size, config["area"])
    start = random_patch(task.in_chans, side, torch.Generator().manual_seed(seed))
    return PatchTransform(start.requires_grad_(True), task.image_size, config["position"])


def attack(model: AdaptiveViT, task: Task, config: Config, ctx: FitContext, desc: str) -> tuple[PatchTransform, float]:
    """Optimise a patch against the frozen ``model``; returns it and its mean loss over the
    last 10% of steps."""
    transform = new_patch(task, config, ctx.seed).to(ctx.device)
    optimizer = torch.optim.AdamW([transform.patch], lr=config["lr"], weight_decay=0.0)
    model.eval().requires_grad_(False)
    batches = list(task.train_batches(config["batch_size"], config["epochs"]))
    losses = []
    for images, _ in ctx.progress(batches, desc=desc, total=len(batches)):
        loss = _attack_step(model, transform, optimizer, images.to(ctx.device))
        losses.append(loss)
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
    for images, labels in ctx.progress(batches, desc="adv-train", total=len(batches)):
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
    model.eval()
    tail = losses[-max(1, len(losses) // 10):]
    return {"defense_train_loss": sum(tail) / len(tail)}


class SlowFormer(Method):
    name = "slowformer"
    reported = (
        # F_min and F_max of the official attack success: A-ViT's own clean compute, and its
        # compute with nothing halted (the DeiT it was fine-tuned from)
        ReportedFigure("imagenet", "flops-under-attack/clean_gmacs_mean", 0.873, "A-ViT-Tiny, clean images (F_min)",
                       _SOURCE, where=_TINY),
        ReportedFigure("imagenet", "flops-under-attack/gmacs_max", 1.258, "A-ViT-Tiny with nothing halted = DeiT-Tiny "
                       "(F_max)", _SOURCE, where=_TINY),
        ReportedFigure("imagenet", "flops-under-attack/clean_gmacs_mean", 3.676, "A-ViT-Small, clean images (F_min)",
                       _SOURCE, where=_SMALL),
        ReportedFigure("imagenet", "flops-under-attack/gmacs_max", 4.608, "A-ViT-Small with nothing halted = "
                       "DeiT-Small (F_max)", _SOURCE, where=_SMALL),
        ReportedFigure("imagenet", "flops-under-attack/attack_success", 80.0, "A-ViT, 2% patch: 'nearly 80% of "
                       "maximum possible increase in compute'", "SlowFormer, official README (UCDvision/SlowFormer)",
                       where={"target": "avit", "area": 0.02}),
    )

    @classmethod
    def defaults(cls, preset: str) -> Config:
        return {
            "target": "avit", "area": 0.08, "position": "top-left", "lr": 0.2,
            "epochs": {"smoke": 1, "small": 5, "paper": 1}[preset],
            "batch_size": {"smoke": 64, "small": 64, "paper": 128}[preset],
            "defense": "none", "defense_lr": 5e-4,
            "defense_epochs": {"smoke": 1, "small": 10, "paper": 10}[preset],
        }

    requires = (ImageClassification,)

    def unsupported_reason(self, task: Task) -> str | None:
        return require_vit(task)

    def _check(self, config: Config) -> None:
        if config["target"] not in TARGETS:
            raise UcdbenchError(f"slowformer: target must be one of {', '.join(TARGETS)}, not {config['target']!r}")
        if config["defense"] not in DEFENSES:
            raise UcdbenchError(f"slowformer: defense must be one of {', '.join(DEFENSES)}, not {config['defense']!r}")
        if config["position"] not in POSITIONS:
            raise UcdbenchError(f"slowformer: position must be one of {', '.join(POSITIONS)}, not {config['position']!r}")
        if not 0 < config["area"] < 1:
            raise UcdbenchError(f"slowformer: area is a fraction of the image in (0, 1), not {config['area']!r}")

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        self._check(config)
        torch.manual_seed(ctx.seed)
        model, method, target_config = load_target(task, config["target"], ctx)
        transform, attack_loss = attack(model, task, config, ctx, desc="slowformer")
        metrics = {"attack_loss": attack_loss, "patch_side": float(transform.side),
                   "patch_area_fraction": transform.area_fraction}
        control = PatchTransform(random_patch(task.in_chans, transform.side, torch.Generator().manual_seed(ctx.seed + 2)),
                                 task.image_size, config["position"]).to(ctx.device)
        extras: dict[str, Any] = {"control_transform": control}
        if config["defense"] == "adv-train":
            undefended = {"model": model, "input_transform": transform, "force_compute": model.forced_compute,
                          "control_transform": control}
            model = load_target(task, config["target"], ctx)[0]
            metrics.update(adversarial_training(model, method, target_config, task, config, ctx))
            metrics["undefended_attack_loss"] = attack_loss
            transform, metrics["attack_loss"] = attack(model, task, config, ctx, desc="slowformer (defended)")
            extras["undefended"] = undefended
        extras["force_compute"] = model.forced_compute
        tensors = {"patch": transform.patch.detach().clone()}
        if config["defense"] == "adv-train":  # the defended model is this run's product: stored as it is
            tensors.update({f"{TARGET}{name}": t.detach().clone() for name, t in model.state_dict().items()})
        return Outcome(
            model=model,
            artifact=Artifact(tensors, metadata={"target": config["target"], "position": config["position"],
                                                 "image_size": task.image_size, "defense": config["defense"]},
                              dense=tuple(name for name in tensors if name.startswith(TARGET))),
            reconstruct=attack_reconstructor(task, config["target"], ctx),
            dense_weights=lambda: {"patch": transform.patch.detach(),
                                   **{f"{TARGET}{name}": t for name, t in model.state_dict().items()}},
            input_transform=transform,
            metrics=metrics,
            extras=extras,
        )


def attack_reconstructor(task: Task, target: str, ctx: FitContext) -> Reconstruct:
    """artifact, device → the complete state of an attack: the patch and, under ``target.``,
    the model it attacks — the stored defended model, or else the task's target as its own
    method fits it (cached; held once, as its user holds it)."""
    held: dict[str, AdaptiveViT] = {}

    def reconstruct(artifact: Artifact, device: torch.device) -> dict[str, torch.Tensor]:
        stored = stored_dense(artifact, device)
        if not stored:
            if "target" not in held:
                with torch.random.fork_rng():
                    held["target"] = load_target(task, target, ctx)[0]
            stored = {f"{TARGET}{name}": t.to(device) for name, t in held["target"].state_dict().items()}
        return {"patch": artifact.tensors["patch"].to(device), **stored}

    return reconstruct
