"""The standard evaluations' figures on hand-made tasks, models and hardware, each checked against
a count or a sum done by hand: what accuracy reports on clean and transformed inputs, what
compression divides by what, the latency figures of a virtual clock (energy included) and the
FLOPs of one linear layer. Small enough for mutation testing (docs/development.md)."""

from __future__ import annotations

import torch
from torch import nn

from ucdbench.api import FLOPS_CONVENTION, Artifact, ArtifactKind, EvaluationContext, Metric, Outcome
from ucdbench.running.artifacts import write_artifact
from ucdbench_plugins.evaluations.accuracy import Accuracy
from ucdbench_plugins.evaluations.compression import Compression
from ucdbench_plugins.evaluations.flops import Flops
from ucdbench_plugins.evaluations.latency import Latency
from ucdbench_plugins.hardware.cpu import CPU

CPU_DEVICE = torch.device("cpu")


class TinyTask:
    """A task of 3 features and 2 classes whose ``evaluate`` reports the mean of the model's
    outputs on its inputs (transformed, where a transform is given): a figure computed by hand."""

    name = "tiny"
    metrics = (Metric("nll", False, "nats", "loss"), Metric("top1", True, "%", "share right"))
    primary_metric = "top1"

    def __init__(self) -> None:
        self.inputs = torch.ones(4, 3)

    def base_model(self, pretrained: bool) -> nn.Module:
        assert pretrained is False  # counting its parameters or FLOPs needs no pretrained weights (a build, a download)
        return nn.Linear(3, 2)  # 3·2 weights + 2 biases = 8 parameters

    def sample_inputs(self, batch_size: int, device: torch.device) -> torch.Tensor:
        assert device == CPU_DEVICE, device
        return torch.ones(batch_size, 3, device=device)

    def forward(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        return model(inputs)

    def evaluate(self, model, device, input_transform=None) -> dict[str, float]:
        assert device == CPU_DEVICE, device  # the evaluation's device, passed on
        inputs = self.inputs if input_transform is None else input_transform(self.inputs)
        with torch.no_grad():
            out = model(inputs)
        return {"top1": float(out.mean()), "nll": float(out.abs().sum())}


def linear(weight: float, bias: float) -> nn.Linear:
    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.fill_(weight)
        model.bias.fill_(bias)
    return model


def context(outcome: Outcome, evaluation, *, task=None, hardware=None, config=None, artifact_path=None):
    return EvaluationContext(task=task or TinyTask(), outcome=outcome, hardware=hardware or CPU(), device=CPU_DEVICE,
                             preset="smoke", config={**evaluation.defaults("smoke"), **(config or {})},
                             artifact_path=artifact_path)


# --------------------------------------------------------------------------------------------
# accuracy
# --------------------------------------------------------------------------------------------

PATCH = Artifact({"patch": torch.zeros(1)}, kind=ArtifactKind.INPUT_TRANSFORM)


def test_accuracy_declares_the_task_s_metrics_primary_first_and_the_transformed_ones_after():
    def declared(outcome):
        return [(m.name, m.headline, m.description) for m in Accuracy().declared_figures(context(outcome, Accuracy))]

    model = linear(1.0, 0.0)
    assert declared(Outcome(model=model)) == [("top1", True, "share right"), ("nll", False, "loss")]
    transformed = [("top1_transformed", False, "share right (on transformed inputs)"),
                   ("nll_transformed", False, "loss (on transformed inputs)")]
    assert declared(Outcome(model=model, input_transform=torch.neg)) == [
        ("top1", True, "share right"), ("nll", False, "loss"), *transformed]
    # an attack's patch alone: only the transformed figures, the primary one the headline
    patch = Outcome(model=model, artifact=PATCH, input_transform=torch.neg)
    assert declared(patch) == [("top1_transformed", True, "share right (on transformed inputs)"), transformed[1]]


def test_accuracy_measures_clean_and_transformed_inputs_as_the_outcome_says():
    model = linear(1.0, 0.5)  # each output: 3 · 1 + 0.5 = 3.5 on ones
    clean = {"top1": 3.5, "nll": 4 * 2 * 3.5}
    assert Accuracy().measure(context(Outcome(model=model), Accuracy)) == clean
    double = Outcome(model=model, input_transform=lambda x: 2 * x)  # 3 · 2 + 0.5 = 6.5
    assert Accuracy().measure(context(double, Accuracy)) == {**clean, "top1_transformed": 6.5,
                                                              "nll_transformed": 4 * 2 * 6.5}
    patch = Outcome(model=model, artifact=PATCH, input_transform=lambda x: 2 * x)
    assert Accuracy().measure(context(patch, Accuracy)) == {"top1_transformed": 6.5, "nll_transformed": 4 * 2 * 6.5}


def test_accuracy_s_conformance_wants_a_number_or_a_reason_for_every_declared_metric():
    problem = Accuracy().conformance_problem
    run = {"task": {"name": "tiny", "metrics": [{"name": "top1"}, {"name": "nll"}]}}
    assert problem(None, run) is None  # nothing measured: nothing to judge
    assert problem({"top1": 50, "nll": 1.5}, run) is None  # an int is a number too
    assert problem({"top1": 50.0, "nll_omitted": "no weights here"}, run) is None
    for results in ({"top1": 50.0}, {"top1": 50.0, "nll": True}, {"top1": 50.0, "nll": "1.5"},
                    {"top1": 50.0, "nll_omitted": ""}):
        assert problem(results, run) == (
            "task 'tiny': evaluate() gave no number for nll; return every metric the task declares (Task.metrics) "
            "as a float, or `<metric>_omitted`: why it cannot here"), results
    assert "no number for top1, nll;" in problem({}, run)
    assert problem({}, {"task": {"name": "tiny"}}) is None  # a task that declares no metric
    patch_run = {**run, "artifact_kind": ArtifactKind.INPUT_TRANSFORM.value}
    assert problem({"top1_transformed": 1.0, "nll_transformed": 2.0}, patch_run) is None
    assert "no number for top1_transformed, nll_transformed;" in problem({"top1": 1.0, "nll": 2.0}, patch_run)


# --------------------------------------------------------------------------------------------
# compression
# --------------------------------------------------------------------------------------------


def test_compression_divides_the_artifact_by_the_base_model_s_fp32_bytes(tmp_path):
    artifact = Artifact({"codes": torch.zeros(2), "head": torch.zeros(3)}, dense=("head",))
    path = tmp_path / "artifact.safetensors"
    write_artifact(path, artifact)
    size = path.stat().st_size
    figures = Compression().measure(context(Outcome(model=linear(0, 0), artifact=artifact), Compression,
                                            artifact_path=path))
    assert figures == {
        "artifact_bytes": size, "stored_scalars": 5, "dense_scalars": 3,
        "base_params": 8, "base_bytes_fp32": 32,  # nn.Linear(3, 2): 8 parameters of 4 bytes
        "size_percent": 100.0 * size / 32, "scalars_percent": 100.0 * 5 / 8, "compression_ratio": 32 / size,
    }


def test_compression_is_skipped_without_an_artifact():
    assert Compression().skip_reason(context(Outcome(model=linear(0, 0)), Compression)) == \
        "the method stores no artifact"
    stored = Outcome(model=linear(0, 0), artifact=Artifact({"w": torch.zeros(1)}))
    assert Compression().skip_reason(context(stored, Compression)) is None


# --------------------------------------------------------------------------------------------
# latency
# --------------------------------------------------------------------------------------------


class Meter:
    def __init__(self, clock: list[float]) -> None:
        self.clock = clock

    def joules(self) -> float:
        return 50.0 + 3.0 * self.clock[0]  # a device drawing 3 W, its counter at 50 J when the timing starts


class VirtualHardware(CPU):
    """Every call takes the next of ``durations`` seconds of a virtual clock; energy at 3 W;
    a peak memory it reports only after a reset. ``asked``: each method called, with its device."""

    def __init__(self, durations: list[float], metered: bool = True) -> None:
        self.durations, self.clock, self.metered, self.resets = list(durations), [0.0], metered, 0
        self.asked: list[tuple[str, torch.device]] = []

    def synchronize(self, device) -> None:
        self.asked.append(("synchronize", device))

    def time_call(self, fn, device) -> float:
        self.asked.append(("time_call", device))
        fn()
        seconds = self.durations.pop(0)
        self.clock[0] += seconds
        return seconds

    def work_seconds(self) -> float | None:
        return None

    def reset_peak_memory(self, device) -> None:
        self.asked.append(("reset_peak_memory", device))
        self.resets += 1

    def peak_memory_bytes(self, device) -> int | None:
        self.asked.append(("peak_memory_bytes", device))
        return 4096 * self.resets

    def energy_meter(self, device):
        self.asked.append(("energy_meter", device))
        return Meter(self.clock) if self.metered else None


def test_latency_figures_are_the_percentiles_of_its_timed_calls_and_energy_is_per_sample():
    durations = [0.004, 0.001, 0.003, 0.002, 0.005]
    hardware = VirtualHardware(durations)
    figures = Latency().measure(context(Outcome(model=linear(1, 0)), Latency, hardware=hardware,
                                        config={"batch_size": 8, "warmup": 0, "min_iters": 5, "min_seconds": 0.0}))
    assert figures["iterations"] == 5 and figures["batch_size"] == 8
    assert figures["samples_ms"] == [1000 * d for d in durations]
    assert abs(figures["p50_ms"] - 3.0) < 1e-9  # the median of 1..5 ms
    assert abs(figures["p90_ms"] - 4.6) < 1e-9 and abs(figures["p99_ms"] - 4.96) < 1e-9  # linear interpolation
    assert abs(figures["mean_ms"] - 3.0) < 1e-9
    assert abs(figures["samples_per_s"] - 8 / 0.003) < 1e-6
    assert figures["dtype"] == "float32" and figures["threads"] == torch.get_num_threads()
    assert figures["peak_memory_bytes"] == 4096  # read after the one reset before the timed calls
    assert abs(figures["energy_j_per_sample"] - 3.0 * 0.015 / (8 * 5)) < 1e-12  # 3 W · 15 ms / 40 samples
    assert [name for name, _ in hardware.asked] == ["synchronize", "reset_peak_memory", "energy_meter",
                                                    *["time_call"] * 5, "synchronize", "peak_memory_bytes"]
    assert {device for _, device in hardware.asked} == {CPU_DEVICE}  # each on the evaluation's device
    unmetered = Latency().measure(context(Outcome(model=linear(1, 0)), Latency, hardware=VirtualHardware(durations,
                                  metered=False), config={"warmup": 0, "min_iters": 5, "min_seconds": 0.0}))
    assert "energy_j_per_sample" not in unmetered


def test_latency_stops_at_max_iters_though_min_seconds_is_not_reached():
    hardware = VirtualHardware([0.001] * 10)
    figures = Latency().measure(context(Outcome(model=linear(1, 0)), Latency, hardware=hardware,
                                        config={"warmup": 0, "min_iters": 1, "min_seconds": 60.0, "max_iters": 4}))
    assert figures["iterations"] == 4 and len(hardware.durations) == 6


def test_latency_times_until_min_iters_when_min_seconds_is_reached_first():
    hardware = VirtualHardware([1.0] * 10)
    figures = Latency().measure(context(Outcome(model=linear(1, 0)), Latency, hardware=hardware,
                                        config={"warmup": 0, "min_iters": 3, "min_seconds": 0.5, "max_iters": 10}))
    assert figures["iterations"] == 3


# --------------------------------------------------------------------------------------------
# flops
# --------------------------------------------------------------------------------------------


class NoCompute(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_flops_of_a_linear_layer_and_its_ratio_to_the_base_model():
    # nn.Linear(3, 2) on one sample: 3 · 2 multiply-adds = 12 FLOPs (the bias add is not counted)
    figures = Flops().measure(context(Outcome(model=linear(1, 0)), Flops, config={"batch_size": 4}))
    assert (figures["flops"], figures["macs"], figures["gflops"]) == (12, 6, 12 / 1e9)
    assert (figures["base_flops"], figures["flops_ratio"], figures["batch_size"]) == (12, 1.0, 4)
    assert sum(figures["flops_by_op"].values()) == 12
    assert figures["convention"] == FLOPS_CONVENTION  # FLOPs = 2 × multiply-adds, said in the record
    assert Flops().skip_reason(context(Outcome(model=linear(1, 0)), Flops)) is None  # a task that says nothing
    identity = Flops().measure(context(Outcome(model=NoCompute()), Flops, config={"batch_size": 4}))
    assert (identity["flops"], identity["flops_ratio"]) == (0, 0.0)

    class ComputeFreeBase(TinyTask):
        def base_model(self, pretrained: bool) -> nn.Module:
            return NoCompute()

    assert Flops().measure(context(Outcome(model=linear(1, 0)), Flops, task=ComputeFreeBase()))["flops_ratio"] is None


def test_flops_are_exact_unless_the_model_s_compute_depends_on_its_input():
    from ucdbench.api import FigureKind

    plain = Flops().declared_figures(context(Outcome(model=linear(1, 0)), Flops))
    assert plain == Flops.figures and {m.kind for m in plain} == {FigureKind.EXACT}
    adaptive = Flops().declared_figures(context(Outcome(model=linear(1, 0), extras={"force_compute": None}), Flops))
    assert [m.name for m in adaptive] == [m.name for m in Flops.figures]
    assert {m.kind for m in adaptive} == {FigureKind.QUALITY}


# --------------------------------------------------------------------------------------------
# reconstruction
# --------------------------------------------------------------------------------------------


def test_reconstruction_times_each_rebuild_after_one_warm_up_and_checks_the_rebuilt_state(tmp_path):
    from ucdbench_plugins.evaluations.reconstruction import Reconstruction

    model = linear(1.0, 0.5)
    artifact = Artifact({"weight": model.weight.detach().clone(), "bias": model.bias.detach().clone()})
    path = tmp_path / "artifact.safetensors"
    write_artifact(path, artifact)
    rebuilds = []

    def reconstruct(stored, device):
        rebuilds.append(device)
        return {name: tensor.to(device) for name, tensor in stored.tensors.items()}

    durations = [0.004, 0.001, 0.003, 0.002]  # the warm-up is not timed: no duration of its own
    outcome = Outcome(model=model, artifact=artifact, reconstruct=reconstruct)
    hardware = VirtualHardware(durations)
    figures = Reconstruction().measure(context(outcome, Reconstruction, hardware=hardware, config={"repeats": 4},
                                               artifact_path=path))
    assert rebuilds == [CPU_DEVICE] * 5 and figures["repeats"] == 4
    assert hardware.asked == [("synchronize", CPU_DEVICE)] + [("time_call", CPU_DEVICE)] * 4
    assert figures["samples_ms"] == [1000 * d for d in durations]
    assert abs(figures["median_ms"] - 2.5) < 1e-9 and abs(figures["p90_ms"] - 3.7) < 1e-9
    assert figures["rebuilt_scalars"] == 8 and figures["weights_equal"] is True
    assert (figures["compared_tensors"], figures["mismatched_tensors"], figures["max_abs_diff"]) == (2, 0, 0.0)


def test_reconstruction_is_skipped_without_an_artifact_or_a_way_to_rebuild_it():
    from ucdbench_plugins.evaluations.reconstruction import Reconstruction

    stored = Artifact({"w": torch.zeros(1)})
    why = "the method stores no artifact to rebuild its model from"
    assert Reconstruction().skip_reason(context(Outcome(model=linear(0, 0)), Reconstruction)) == why
    assert Reconstruction().skip_reason(context(Outcome(model=linear(0, 0), artifact=stored), Reconstruction)) == why
    rebuildable = Outcome(model=linear(0, 0), artifact=stored, reconstruct=lambda a, d: {})
    assert Reconstruction().skip_reason(context(rebuildable, Reconstruction)) is None


def test_reconstruction_s_conformance_names_what_the_method_must_fix():
    from ucdbench_plugins.evaluations.reconstruction import Reconstruction

    problem = Reconstruction().conformance_problem
    run = {"artifact": "a.safetensors", "skipped": {"reconstruction": "no reconstruct"}}
    assert problem(None, run) == ("did not run although the method stores an artifact: no reconstruct; give the "
                                  "Outcome a reconstruct function")
    assert problem(None, {"artifact": "a.safetensors"}) == ("did not run although the method stores an artifact: "
                                                            "None; give the Outcome a reconstruct function")
    assert problem(None, {"artifact": None, "skipped": {}}) is None
    assert problem({"weights_equal": False, "mismatched_names": ["bn.running_mean"]}, run) == (
        "the state rebuilt from the artifact file differs from the scored one: ['bn.running_mean']; store every "
        "tensor the scored model needs (see ucdbench.api.state_with and ucdbench.api.stored_dense)")
    assert problem({}, run).startswith("the state rebuilt from the artifact file differs from the scored one: None;")
    assert problem({"weights_equal": True}, run) is None
