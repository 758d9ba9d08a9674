"""FLOPs under attack: how much compute an input attack forces out of an adaptive model.

Applies to an Outcome with an ``input_transform`` (the attack) whose ``extras`` carry
``force_compute``. Per-sample forward FLOPs are counted one sample at a time with
:func:`ucdbench.api.count_flops`, so a model that drops tokens per sample is credited exactly
with what it ran. Reported for clean, attacked and control inputs: mean, p50 and max FLOPs per
sample (and the means in GMACs, the papers' unit); the attacked/clean ratio; the task's accuracy
on each; and SlowFormer's attack success

    attack_success = (F_attacked − F_min) / (F_max − F_min) × 100

with F_min the model's own mean per-sample FLOPs on the same clean inputs and F_max its FLOPs
with nothing dropped — the official evaluation (UCDvision/SlowFormer ``avit/engine_act.py``,
``evaluate``: F_min = 0.873 GMACs is clean A-ViT-Tiny, F_max = 1.258 is DeiT-Tiny). Clean
inputs score 0 by definition, so no clean figure is reported; the random-patch control uses the
same formula. The model's compute floor (every droppable token dropped at the first
opportunity) is reported as ``flops_floor`` for reference and is never part of the success.
On hardware with an energy meter (NVML), energy per sample clean vs attacked as well.

F_max and the floor depend on the architecture alone, so they are exact figures
(:class:`FigureKind`); everything else depends on what training and the attack learned and is
compared across seeds.

Outcome.extras keys read here:

- ``force_compute`` (required): ``force_compute(mode)`` → a context manager under which the
  model runs with its most (``"max"``: nothing dropped) or least (``"min"``: every droppable
  token dropped at the earliest point) compute. F_max and the floor are the mean per-sample
  FLOPs of the clean inputs in those modes.
- ``control_transform`` (optional): an input transform of the same kind and size as the
  attack but not optimised (a random patch); reported with the ``control_`` prefix.
- ``undefended`` (optional): a dict with ``model``, ``input_transform``, ``force_compute``
  (and optionally ``control_transform``) — the attack on the target before a defence; its
  figures are reported with the ``undefended_`` prefix so one record shows before and after.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ucdbench.api import (
    ChartAxis, Evaluation, EvaluationContext, FLOPS_CONVENTION, FigureKind, Metric, PerPreset, Setting, count_flops,
    percentile,
)

Transform = Callable[[torch.Tensor], torch.Tensor]


def per_sample_flops(task, model: torch.nn.Module, inputs: torch.Tensor) -> list[float]:
    """Forward FLOPs of each sample of ``inputs`` run alone."""
    model.eval()
    with torch.no_grad():
        return [float(count_flops(lambda: task.forward(model, inputs[i:i + 1]))["flops"]) for i in range(len(inputs))]


def summary(values: list[float], prefix: str) -> dict[str, float]:
    mean = sum(values) / len(values)
    return {f"{prefix}_flops_mean": mean, f"{prefix}_flops_p50": percentile(values, 50),
            f"{prefix}_flops_max": max(values), f"{prefix}_gmacs_mean": gmacs(mean)}


def gmacs(flops: float) -> float:
    """FLOPs (2 × multiply-adds) → GMACs, the unit the papers report."""
    return flops / 2e9


def success(flops: float, f_min: float, f_max: float) -> float:
    """SlowFormer's attack success in percent: where ``flops`` lies between the model's clean
    compute ``f_min`` and its compute with nothing dropped ``f_max`` (NaN for a model whose
    clean compute is already its maximum: nothing left to attack)."""
    return 100.0 * (flops - f_min) / (f_max - f_min) if f_max > f_min else float("nan")


def energy_per_sample(ctx: EvaluationContext, model: torch.nn.Module, inputs: torch.Tensor, repeats: int) -> float | None:
    """Joules per sample of ``repeats`` forward passes over ``inputs``, or None without a meter."""
    meter = ctx.hardware.energy_meter(ctx.device)
    if meter is None:
        return None
    with torch.inference_mode():
        ctx.task.forward(model, inputs)  # warm-up
        ctx.hardware.synchronize(ctx.device)
        before = meter.joules()
        for _ in range(repeats):
            ctx.task.forward(model, inputs)
        ctx.hardware.synchronize(ctx.device)
        return (meter.joules() - before) / (repeats * len(inputs))


def measure_attack(ctx: EvaluationContext, model: torch.nn.Module, attack: Transform,
                   force_compute: Callable[[str], Any], control: Transform | None,
                   inputs: torch.Tensor) -> dict[str, float]:
    """Every figure of one (model, attack) pair, unprefixed."""
    task, device = ctx.task, ctx.device
    model = model.to(device).eval()
    with torch.no_grad():
        attacked_inputs = attack(inputs)
        control_inputs = control(inputs) if control is not None else None
    with force_compute("min"):
        floor = sum(per_sample_flops(task, model, inputs)) / len(inputs)
    with force_compute("max"):
        f_max = sum(per_sample_flops(task, model, inputs)) / len(inputs)
    runs = {"clean": (inputs, None), "attacked": (attacked_inputs, attack)}
    if control is not None:
        runs["control"] = (control_inputs, control)
    out: dict[str, float] = {"flops_floor": floor, "flops_max": f_max,
                             "gmacs_floor": gmacs(floor), "gmacs_max": gmacs(f_max)}
    for name, (x, transform) in runs.items():
        out.update(summary(per_sample_flops(task, model, x), name))
        out[f"{name}_top1"] = task.evaluate(model, device, input_transform=transform)[task.primary_metric]
    f_min = out["clean_flops_mean"]
    out["attack_success"] = success(out["attacked_flops_mean"], f_min, f_max)
    out["flops_ratio"] = out["attacked_flops_mean"] / f_min
    if control is not None:
        out["control_attack_success"] = success(out["control_flops_mean"], f_min, f_max)
        out["control_flops_ratio"] = out["control_flops_mean"] / f_min
    repeats = ctx.config["energy_repeats"]
    clean_j = energy_per_sample(ctx, model, inputs, repeats)
    if clean_j is not None:
        attacked_j = energy_per_sample(ctx, model, attacked_inputs, repeats)
        out.update({"clean_energy_j_per_sample": clean_j, "attacked_energy_j_per_sample": attacked_j,
                    "energy_ratio": attacked_j / clean_j if clean_j > 0 else float("nan")})
    return out


class FlopsUnderAttack(Evaluation):
    name = "flops-under-attack"
    figures = (
        Metric("clean_gmacs_mean", None, "GMACs", "mean multiply-adds per clean sample: F_min of the attack success",
               chart=ChartAxis("attack", "clean inputs: GMACs per sample",
                               "compute under attack: attacked against clean", y="attacked_gmacs_mean",
                               exclusive=True, diagonal="attacked = clean")),
        Metric("attacked_gmacs_mean", None, "GMACs", "mean multiply-adds per attacked sample"),
        Metric("control_gmacs_mean", None, "GMACs", "mean multiply-adds per sample with the random control patch"),
        Metric("gmacs_max", None, "GMACs", "multiply-adds per sample with nothing dropped: F_max",
               kind=FigureKind.EXACT),
        Metric("gmacs_floor", None, "GMACs", "multiply-adds per sample with everything droppable dropped at once "
               "(reference only, not in the success)", kind=FigureKind.EXACT),
        Metric("flops_ratio", None, "×", "attacked / clean mean FLOPs"),
        Metric("attack_success", None, "%", "(F_attacked − F_min) / (F_max − F_min) × 100; clean inputs score 0",
               headline=True),
        Metric("control_attack_success", None, "%", "the same for the random control patch"),
        Metric("undefended_attack_success", None, "%", "attack success on the target before the defence"),
        Metric("clean_top1", True, "%", "the task's primary metric on clean inputs"),
        Metric("attacked_top1", True, "%", "the task's primary metric on attacked inputs"),
        Metric("clean_energy_j_per_sample", None, "J", "energy per clean sample, where metered"),
        Metric("attacked_energy_j_per_sample", None, "J", "energy per attacked sample, where metered"),
    )
    settings = {
        "samples": Setting(PerPreset(8, 64, 256), "held-out eval images, each counted alone", minimum=1),
        "energy_repeats": Setting(PerPreset(2, 10, 50), "passes over the samples per energy reading, where metered",
                                  minimum=1),
    }

    def skip_reason(self, ctx: EvaluationContext) -> str | None:
        if ctx.outcome.input_transform is None:
            return "the outcome has no input attack (input_transform)"
        if "force_compute" not in ctx.outcome.extras:
            return "the outcome's model does not expose its compute extremes (extras['force_compute'])"
        return None

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        outcome = ctx.outcome
        inputs = ctx.task.sample_inputs(ctx.config["samples"], ctx.device)
        results: dict[str, Any] = measure_attack(ctx, outcome.model, outcome.input_transform,
                                                 outcome.extras["force_compute"],
                                                 outcome.extras.get("control_transform"), inputs)
        undefended = outcome.extras.get("undefended")
        if undefended is not None:
            before = measure_attack(ctx, undefended["model"], undefended["input_transform"],
                                    undefended["force_compute"], undefended.get("control_transform"), inputs)
            results.update({f"undefended_{k}": v for k, v in before.items()})
        results["samples"] = len(inputs)
        results["convention"] = FLOPS_CONVENTION
        return results
