"""The 3DGS optimisation loop: Adam with the reference per-attribute learning rates.

Reference values (graphdeco-inria/gaussian-splatting): position 1.6e-4 × scene extent decaying
exponentially to 1.6e-6 × extent, DC colour 2.5e-3, other SH 2.5e-3 / 20, opacity 0.05, scale
5e-3, rotation 1e-3; one view per step; the SH degree grows by one every ``sh_increase_every``
steps. ``lr_scale`` multiplies every rate: short CPU schedules (hundreds of steps, not 30k)
need larger steps to converge. Densification is not implemented: scenes start from surface
samples (or a trained PLY), and the count changes only through :func:`prune`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ucdbench.api import Curves, DivergedError, EpochCurve
from ucdbench_plugins.shared.gaussians.camera import Camera
from ucdbench_plugins.shared.gaussians.metrics import photometric_loss
from ucdbench_plugins.shared.gaussians.model import PARAMETER_NAMES, GaussianModel

View = tuple[Camera, torch.Tensor]


@dataclass(frozen=True)
class LearningRates:
    means: float = 1.6e-4
    means_final: float = 1.6e-6
    sh_dc: float = 2.5e-3
    sh_rest: float = 2.5e-3 / 20
    opacities: float = 0.05
    scales: float = 5e-3
    quats: float = 1e-3


def make_optimizer(model: GaussianModel, rates: LearningRates, scene_extent: float, lr_scale: float) -> torch.optim.Adam:
    groups = []
    for name in PARAMETER_NAMES:
        lr = getattr(rates, name) * lr_scale * (scene_extent if name == "means" else 1.0)
        groups.append({"params": [getattr(model, name)], "lr": lr, "name": name})
    return torch.optim.Adam(groups, eps=1e-15)


def train_gaussians(
    model: GaussianModel,
    views: Sequence[View],
    *,
    steps: int,
    generator: torch.Generator,
    device: torch.device,
    scene_extent: float,
    lr_scale: float = 1.0,
    sh_increase_every: int = 0,
    rates: LearningRates = LearningRates(),
    extra_loss: Callable[[GaussianModel, int], torch.Tensor | None] | None = None,
    on_step: Callable[[int, torch.optim.Optimizer], None] | None = None,
    progress: Callable = lambda it, **_: it,
    curves: Curves | None = None,
) -> dict[str, float]:
    """Optimise ``model`` on ``views`` for ``steps`` single-view steps.

    ``on_step(step, optimizer)`` runs before each step (quantisation updates, pruning);
    ``extra_loss(model, step)`` adds a regulariser; ``curves`` (a run's) gets the mean loss of
    each pass over the views as ``train_loss``. Returns the mean loss of the last 10%.
    """
    model.to(device).train()
    optimizer = make_optimizer(model, rates, scene_extent, lr_scale)
    means_group = next(g for g in optimizer.param_groups if g["name"] == "means")
    lr_start = means_group["lr"]
    lr_end = rates.means_final * lr_scale * scene_extent
    if sh_increase_every:
        model.active_sh_degree = 0
    losses: list[float] = []
    order: list[int] = []
    epoch_losses = EpochCurve(curves, "train_loss", steps, steps / max(1, len(views))) if curves is not None else None
    for step in progress(range(steps), desc="3dgs", total=steps):
        if on_step is not None:
            on_step(step, optimizer)
        if sh_increase_every and step and step % sh_increase_every == 0:
            model.active_sh_degree = min(model.sh_degree, model.active_sh_degree + 1)
        means_group["lr"] = lr_start * math.exp(step / max(1, steps - 1) * math.log(lr_end / lr_start))
        if not order:
            order = torch.randperm(len(views), generator=generator).tolist()
        camera, target = views[order.pop()]
        loss = photometric_loss(model(camera.to(device)), target.to(device))
        if extra_loss is not None:
            extra = extra_loss(model, step)
            if extra is not None:
                loss = loss + extra
        if not torch.isfinite(loss):
            raise DivergedError(f"3DGS loss became {loss.item()} at step {step} of {steps}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if epoch_losses is not None:
            epoch_losses.add(step, losses[-1])
    model.active_sh_degree = model.sh_degree
    model.eval()
    tail = losses[-max(1, len(losses) // 10):]
    return {"train_loss": sum(tail) / len(tail), "train_steps": float(len(losses))}


@torch.no_grad()
def prune(model: GaussianModel, optimizer: torch.optim.Optimizer, keep: torch.Tensor) -> None:
    """Drop the Gaussians where ``keep`` is False, from the model and from Adam's moments."""
    for group in optimizer.param_groups:
        old = group["params"][0]
        new = torch.nn.Parameter(old.detach()[keep].clone())
        state = optimizer.state.pop(old, None)
        if state is not None:
            state["exp_avg"] = state["exp_avg"][keep].clone()
            state["exp_avg_sq"] = state["exp_avg_sq"][keep].clone()
            optimizer.state[new] = state
        group["params"][0] = new
        setattr(model, group["name"], new)
