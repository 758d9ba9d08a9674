"""The flops-under-attack evaluation on a hand-made adaptive model and patch: the floor and the
maximum bound the figures, attack success follows SlowFormer's definition (from the clean
compute to the maximum), a defended outcome reports before and after, and energy comes
through the Hardware interface (NVML faked, as there is no GPU here)."""

from __future__ import annotations

import contextlib
import math

import pytest
import torch

from ucdbench_plugins.evaluations.flops_under_attack import FlopsUnderAttack, per_sample_flops, success
from ucdbench_plugins.hardware.cpu import CPU
from ucdbench_plugins.hardware.cuda import NVMLEnergyMeter
from ucdbench.api import FLOPS_CONVENTION
from ucdbench.contracts.interfaces import EvaluationContext, Outcome
from ucdbench_plugins.tasks.images.datasets import Digits
from ucdbench_plugins.methods.slowformer.patch import PatchTransform
from tests.test_adaptive_vit import halting_avit


class FakeNVML:
    """nvmlDeviceGetTotalEnergyConsumption: millijoules, here 1 J per image the model saw."""

    def __init__(self) -> None:
        self.millijoules = 0

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        assert handle == "gpu0"
        return self.millijoules


class MeteredCPU(CPU):
    def __init__(self, nvml: FakeNVML) -> None:
        self.nvml = nvml

    def energy_meter(self, device):
        return NVMLEnergyMeter("gpu0", self.nvml)


@pytest.fixture(scope="module")
def task():
    task = Digits("smoke", 0, Digits.defaults("smoke"))
    task.prepare()
    task.eval_x, task.eval_y = task.eval_x[:24], task.eval_y[:24]  # accuracy runs per sample: keep it short
    return task


def patch(value: float) -> PatchTransform:
    return PatchTransform(torch.full((1, 4, 4), value), 8, "top-left")


def context(task, outcome, hardware=None):
    config = {**FlopsUnderAttack.defaults("smoke"), "samples": 4}
    return EvaluationContext(task=task, outcome=outcome, hardware=hardware or CPU(), device=torch.device("cpu"),
                             preset="smoke", config=config)


def attacked_outcome(model, **extras) -> Outcome:
    return Outcome(model=model, input_transform=patch(1.0),
                   extras={"force_compute": model.forced_compute, "control_transform": patch(0.0), **extras})


def test_figures_lie_between_the_extremes(task):
    model = halting_avit()
    figures = FlopsUnderAttack().measure(context(task, attacked_outcome(model)))
    floor, high = figures["flops_floor"], figures["flops_max"]
    assert floor < figures["clean_flops_mean"] < high
    for name in ("clean", "attacked", "control"):
        assert floor <= figures[f"{name}_flops_mean"] <= figures[f"{name}_flops_max"] <= high
        assert figures[f"{name}_gmacs_mean"] == pytest.approx(figures[f"{name}_flops_mean"] / 2e9)
        assert 0 <= figures[f"{name}_top1"] <= 100
    assert figures["flops_ratio"] == pytest.approx(figures["attacked_flops_mean"] / figures["clean_flops_mean"])
    assert figures["samples"] == 4
    assert "clean_attack_success" not in figures  # 0 by definition
    assert "clean_energy_j_per_sample" not in figures  # the CPU has no energy meter


def test_attack_success_runs_from_the_clean_compute_to_the_maximum(task):
    """SlowFormer's definition: F_min is the model's own mean FLOPs on the clean inputs (not
    its forced floor), F_max its FLOPs with nothing dropped."""
    model = halting_avit()
    inputs = task.sample_inputs(4, torch.device("cpu"))
    clean = sum(per_sample_flops(task, model, inputs)) / 4
    with model.forced_compute("max"):
        f_max = sum(per_sample_flops(task, model, inputs)) / 4
    outcome = attacked_outcome(model)
    attacked = sum(per_sample_flops(task, model, outcome.input_transform(inputs))) / 4
    control = sum(per_sample_flops(task, model, outcome.extras["control_transform"](inputs))) / 4
    figures = FlopsUnderAttack().measure(context(task, outcome))
    assert figures["clean_flops_mean"] == clean and figures["flops_max"] == f_max
    assert figures["attack_success"] == pytest.approx(100 * (attacked - clean) / (f_max - clean))
    assert figures["control_attack_success"] == pytest.approx(100 * (control - clean) / (f_max - clean))
    assert success(clean, clean, f_max) == 0.0 and success(f_max, clean, f_max) == pytest.approx(100.0)
    assert success(3.0, 2.0, 6.0) == pytest.approx(25.0)
    assert math.isnan(success(5.0, 5.0, 5.0))  # a model already at its maximum: nothing to attack


def test_an_attack_that_changes_nothing_scores_zero(task):
    model = halting_avit()
    outcome = Outcome(model=model, input_transform=lambda images: images,
                      extras={"force_compute": model.forced_compute, "control_transform": lambda images: images})
    figures = FlopsUnderAttack().measure(context(task, outcome))
    assert figures["attack_success"] == 0.0 and figures["control_attack_success"] == 0.0


def test_defended_outcome_reports_before_and_after(task):
    defended, undefended = halting_avit(), halting_avit()
    outcome = attacked_outcome(defended, undefended={
        "model": undefended, "input_transform": patch(1.0), "force_compute": undefended.forced_compute})
    figures = FlopsUnderAttack().measure(context(task, outcome))
    assert "undefended_attack_success" in figures and "attack_success" in figures
    # same weights, same patch: the same figures before and after
    assert figures["undefended_attack_success"] == pytest.approx(figures["attack_success"])


def test_energy_per_sample_through_the_hardware_meter(task):
    """Energy is read through Hardware.energy_meter (NVML's counter, faked): here 1 J per
    token-block the model runs, so clean and attacked energy follow the tokens each kept —
    per sample, with the warm-up pass left out."""
    nvml = FakeNVML()
    model = halting_avit()

    def one_joule_per_token(module, args):
        nvml.millijoules += 1000 * args[0].shape[0] * args[0].shape[1]

    for block in model.vit.blocks:
        block.register_forward_pre_hook(one_joule_per_token)
    outcome = attacked_outcome(model)
    inputs = task.sample_inputs(4, torch.device("cpu"))
    clean_tokens = model.kept_tokens(inputs).sum(-1).float().mean().item()
    attacked_tokens = model.kept_tokens(outcome.input_transform(inputs)).sum(-1).float().mean().item()
    assert attacked_tokens != clean_tokens  # the fixture's patch changes the compute
    figures = FlopsUnderAttack().measure(context(task, outcome, MeteredCPU(nvml)))
    assert figures["clean_energy_j_per_sample"] == pytest.approx(clean_tokens)
    assert figures["attacked_energy_j_per_sample"] == pytest.approx(attacked_tokens)
    assert figures["energy_ratio"] == pytest.approx(attacked_tokens / clean_tokens)


def test_latency_reports_energy_per_sample_where_metered(task):
    from ucdbench_plugins.evaluations.latency import Latency

    nvml = FakeNVML()
    model = task.base_model(pretrained=False)

    def one_joule_per_image(module, args):
        nvml.millijoules += 1000 * args[0].shape[0]

    model.register_forward_pre_hook(one_joule_per_image)
    config = {**Latency.defaults("smoke"), "min_iters": 3, "min_seconds": 0.0}

    def measure(hardware):
        return Latency().measure(EvaluationContext(task=task, outcome=Outcome(model=model), hardware=hardware,
                                                   device=torch.device("cpu"), preset="smoke", config=config))

    assert measure(MeteredCPU(nvml))["energy_j_per_sample"] == pytest.approx(1.0)  # warm-up not counted
    assert "energy_j_per_sample" not in measure(CPU())


def test_skips_outcomes_without_an_attack_or_extremes(task):
    model = halting_avit()
    assert "input_transform" in FlopsUnderAttack().skip_reason(context(task, Outcome(model=model)))
    no_extremes = Outcome(model=model, input_transform=patch(1.0))
    assert "force_compute" in FlopsUnderAttack().skip_reason(context(task, no_extremes))


class Counter:
    """An energy meter at 50 J when read first, ``per_token`` J more per token the model runs."""

    def __init__(self, per_token: float = 1.0) -> None:
        self.joules_spent, self.per_token = 50.0, per_token

    def joules(self) -> float:
        return self.joules_spent


class TokenDropper(torch.nn.Module):
    """An adaptive model on (B, 4, 3) token inputs: a sample keeps its tokens whose first feature is
    positive (at least one); forced to ``max`` it keeps all 4, to ``min`` one. The kept tokens go
    through one Linear(3, 2): 12 FLOPs a token."""

    def __init__(self, meter: Counter) -> None:
        super().__init__()
        self.layer, self.meter, self.mode = torch.nn.Linear(3, 2), meter, None

    def kept(self, x: torch.Tensor) -> int:
        if self.mode is not None:
            return 4 if self.mode == "max" else 1
        return max(1, int((x[0, :, 0] > 0).sum()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = []
        for sample in x.split(1):
            kept = self.kept(sample)
            self.meter.joules_spent += self.meter.per_token * kept
            outputs.append(self.layer(sample[:, :kept]).sum(dim=1))
        return torch.cat(outputs)

    @contextlib.contextmanager
    def forced_compute(self, mode: str):
        self.mode = mode
        yield
        self.mode = None


class Tokens:
    """Four samples of 4 tokens; sample i has i + 1 tokens with a positive first feature. Its
    "top1" is the share of positive first features it is evaluated on (after the transform)."""

    primary_metric = "top1"

    def sample_inputs(self, batch_size: int, device: torch.device) -> torch.Tensor:
        assert device == torch.device("cpu")
        signs = torch.tensor([[1.0 if t <= i else -1.0 for t in range(4)] for i in range(batch_size)])
        return torch.stack([signs, torch.ones(batch_size, 4), torch.ones(batch_size, 4)], dim=2)

    def forward(self, model, inputs):
        return model(inputs)

    def evaluate(self, model, device, input_transform=None):
        assert device == torch.device("cpu")
        inputs = self.sample_inputs(4, device)
        inputs = inputs if input_transform is None else input_transform(inputs)
        return {"top1": 100.0 * float((inputs[..., 0] > 0).float().mean())}


def attack(x: torch.Tensor) -> torch.Tensor:  # every token kept
    return torch.cat([x[..., :1].abs(), x[..., 1:]], dim=2)


def control(x: torch.Tensor) -> torch.Tensor:  # every token dropped but the one kept anyway
    return torch.cat([-x[..., :1].abs(), x[..., 1:]], dim=2)


class RecordingCPU(CPU):
    def __init__(self, meter: Counter | None) -> None:
        self.meter, self.asked = meter, []

    def synchronize(self, device) -> None:
        self.asked.append(device)

    def energy_meter(self, device):
        self.asked.append(device)
        return self.meter


def test_every_figure_of_an_attack_on_a_model_whose_compute_is_counted_by_hand():
    meter = Counter()
    model = TokenDropper(meter)
    outcome = Outcome(model=model, input_transform=attack,
                      extras={"force_compute": model.forced_compute, "control_transform": control})
    hardware = RecordingCPU(meter)
    config = {**FlopsUnderAttack.defaults("smoke"), "samples": 4, "energy_repeats": 2}
    figures = FlopsUnderAttack().measure(EvaluationContext(task=Tokens(), outcome=outcome, hardware=hardware,
                                                           device=torch.device("cpu"), preset="smoke", config=config))
    # clean: 1, 2, 3, 4 tokens → 12, 24, 36, 48 FLOPs; attacked: 4 tokens each; control: 1 each
    assert figures == {
        "flops_floor": 12.0, "flops_max": 48.0, "gmacs_floor": 12 / 2e9, "gmacs_max": 48 / 2e9,
        "clean_flops_mean": 30.0, "clean_flops_p50": 30.0, "clean_flops_max": 48.0, "clean_gmacs_mean": 30 / 2e9,
        "attacked_flops_mean": 48.0, "attacked_flops_p50": 48.0, "attacked_flops_max": 48.0,
        "attacked_gmacs_mean": 48 / 2e9,
        "control_flops_mean": 12.0, "control_flops_p50": 12.0, "control_flops_max": 12.0, "control_gmacs_mean": 12 / 2e9,
        "clean_top1": 62.5, "attacked_top1": 100.0, "control_top1": 0.0,
        "attack_success": 100.0, "flops_ratio": 1.6, "control_attack_success": -100.0, "control_flops_ratio": 0.4,
        # 2 passes over the 4 samples after a warm-up: 10 tokens a pass clean, 16 attacked
        "clean_energy_j_per_sample": 2.5, "attacked_energy_j_per_sample": 4.0, "energy_ratio": 1.6,
        "samples": 4, "convention": FLOPS_CONVENTION,
    }
    assert hardware.asked and set(hardware.asked) == {torch.device("cpu")}


def test_energy_under_a_joule_per_sample_and_none_at_all():
    def energy(per_token: float) -> dict:
        meter = Counter(per_token)
        model = TokenDropper(meter)
        outcome = Outcome(model=model, input_transform=attack, extras={"force_compute": model.forced_compute})
        config = {**FlopsUnderAttack.defaults("smoke"), "samples": 4, "energy_repeats": 1}
        figures = FlopsUnderAttack().measure(EvaluationContext(task=Tokens(), outcome=outcome,
                                                               hardware=RecordingCPU(meter), device=torch.device("cpu"),
                                                               preset="smoke", config=config))
        return {k: v for k, v in figures.items() if "energy" in k}

    assert energy(0.25) == {"clean_energy_j_per_sample": 0.625, "attacked_energy_j_per_sample": 1.0,
                            "energy_ratio": 1.6}
    nothing = energy(0.0)  # a meter that does not move: no ratio to take
    assert nothing["clean_energy_j_per_sample"] == 0.0 and math.isnan(nothing["energy_ratio"])


def test_the_undefended_target_s_control_patch_is_reported_too():
    defended, undefended = TokenDropper(Counter()), TokenDropper(Counter())
    outcome = Outcome(model=defended, input_transform=control, extras={
        "force_compute": defended.forced_compute,
        "undefended": {"model": undefended, "input_transform": attack, "force_compute": undefended.forced_compute,
                       "control_transform": control}})
    figures = FlopsUnderAttack().measure(EvaluationContext(
        task=Tokens(), outcome=outcome, hardware=CPU(), device=torch.device("cpu"), preset="smoke",
        config={**FlopsUnderAttack.defaults("smoke"), "samples": 4}))
    assert (figures["attack_success"], figures["undefended_attack_success"]) == (-100.0, 100.0)
    assert figures["undefended_control_attack_success"] == -100.0 and "control_attack_success" not in figures


def test_skip_reasons_say_what_the_outcome_lacks():
    model = TokenDropper(Counter())

    def reason(outcome):
        return FlopsUnderAttack().skip_reason(EvaluationContext(task=Tokens(), outcome=outcome, hardware=CPU(),
                                                                device=torch.device("cpu"), preset="smoke", config={}))

    assert reason(Outcome(model=model)) == "the outcome has no input attack (input_transform)"
    assert reason(Outcome(model=model, input_transform=attack)) == (
        "the outcome's model does not expose its compute extremes (extras['force_compute'])")
    assert reason(Outcome(model=model, input_transform=attack, extras={"force_compute": model.forced_compute})) is None
