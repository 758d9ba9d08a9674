"""The standard evaluations on a real (smoke) digits run and on hand-made outcomes."""

from __future__ import annotations

import pytest
import torch

from ucdbench.running.artifacts import dense_artifact, expand_dense, write_artifact
from ucdbench_plugins.evaluations.accuracy import Accuracy
from ucdbench_plugins.evaluations.compression import Compression
from ucdbench_plugins.evaluations.flops import Flops
from ucdbench_plugins.evaluations.latency import Latency, percentile
from ucdbench_plugins.evaluations.reconstruction import Reconstruction, compare_states
from ucdbench_plugins.hardware.cpu import CPU
from ucdbench.contracts.interfaces import EvaluationContext, FigureKind, Outcome
from ucdbench.contracts.state import persistent_buffers, state_with
from ucdbench_plugins.tasks.images.datasets import Digits


@pytest.fixture(scope="module")
def task():
    task = Digits("smoke", 0, Digits.defaults("smoke"))
    task.prepare()
    return task


def context(task, outcome, evaluation, tmp_path=None):
    path = None
    if outcome.artifact is not None:
        path = tmp_path / "artifact.safetensors"
        write_artifact(path, outcome.artifact)
    return EvaluationContext(task=task, outcome=outcome, hardware=CPU(), device=torch.device("cpu"),
                             preset="smoke", config=evaluation.defaults("smoke"), artifact_path=path)


def test_percentile_interpolates():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5.0], 99) == 5.0
    assert percentile(list(range(101)), 90) == 90


def test_compression_counts_file_bytes_and_scalars(task, tmp_path):
    model = task.base_model(pretrained=False)
    head = {f"head.{k}": v for k, v in model.head.state_dict().items()}
    outcome = Outcome(model=model, artifact=dense_artifact(head))
    figures = Compression().measure(context(task, outcome, Compression, tmp_path))
    params = sum(p.numel() for p in model.parameters())
    assert figures["stored_scalars"] == sum(v.numel() for v in head.values())
    assert figures["base_params"] == params
    assert figures["artifact_bytes"] == (tmp_path / "artifact.safetensors").stat().st_size
    assert figures["artifact_bytes"] > 4 * figures["stored_scalars"]  # the header costs bytes too
    assert figures["compression_ratio"] == pytest.approx(4 * params / figures["artifact_bytes"])


def test_accuracy_also_reports_transformed_inputs(task):
    model = task.base_model(pretrained=False)
    outcome = Outcome(model=model, input_transform=lambda x: torch.zeros_like(x))
    figures = Accuracy().measure(context(task, outcome, Accuracy))
    assert {"top1", "nll", "top1_transformed", "nll_transformed"} <= set(figures)
    # a blank image gets one prediction for every sample: accuracy is one class's share
    assert figures["top1_transformed"] <= 100 * max(torch.bincount(task.eval_y)).item() / len(task.eval_y) + 1e-6


def test_latency_reaches_its_minimum_iterations(task):
    outcome = Outcome(model=task.base_model(pretrained=False))
    ctx = context(task, outcome, Latency)
    ctx.config = {**ctx.config, "min_iters": 7, "min_seconds": 0.0}
    figures = Latency().measure(ctx)
    assert figures["iterations"] == 7
    assert figures["p50_ms"] <= figures["p90_ms"] <= figures["p99_ms"]
    assert figures["samples_per_s"] == pytest.approx(figures["batch_size"] / (figures["p50_ms"] / 1000))
    # the raw samples stay in the record, for comparisons: the percentiles are theirs
    assert len(figures["samples_ms"]) == 7
    assert figures["p50_ms"] == pytest.approx(percentile(figures["samples_ms"], 50))


def test_figures_declare_how_they_may_be_compared(task):
    """Stored bytes, FLOPs and weight equality are exact, timings are compared on raw samples,
    the task's metrics across seeds; an input-adaptive model's FLOPs vary with training."""
    plain = Outcome(model=task.base_model(pretrained=False))
    kinds = {(e.name, m.name): m.kind for e in (Accuracy, Compression, Flops, Latency, Reconstruction)
             for m in e().declared_figures(context(task, plain, e))}
    assert kinds["compression", "artifact_bytes"] is FigureKind.EXACT
    assert kinds["flops", "gflops"] is FigureKind.EXACT
    assert kinds["reconstruction", "weights_equal"] is FigureKind.EXACT
    assert kinds["latency", "p50_ms"] is kinds["reconstruction", "median_ms"] is FigureKind.TIMING
    assert kinds["accuracy", "top1"] is kinds["latency", "energy_j_per_sample"] is FigureKind.QUALITY
    adaptive = Outcome(model=plain.model, extras={"force_compute": None})
    assert {m.kind for m in Flops().declared_figures(context(task, adaptive, Flops))} == {FigureKind.QUALITY}


def test_reconstruction_flags_weights_that_differ_from_the_scored_ones(task, tmp_path):
    model = task.base_model(pretrained=False)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    honest = Outcome(model=model, artifact=dense_artifact(state), reconstruct=expand_dense, dense_weights=model.state_dict)
    figures = Reconstruction().measure(context(task, honest, Reconstruction, tmp_path))
    assert figures["weights_equal"] is True
    assert len(figures["samples_ms"]) == figures["repeats"]  # every timed rebuild, for comparisons
    tampered = {k: v.clone() for k, v in state.items()}
    tampered["head.bias"] += 1e-3
    lying = Outcome(model=model, artifact=dense_artifact(tampered), reconstruct=expand_dense, dense_weights=model.state_dict)
    figures = Reconstruction().measure(context(task, lying, Reconstruction, tmp_path))
    assert figures["weights_equal"] is False and figures["max_abs_diff"] == pytest.approx(1e-3, rel=1e-3)


def test_compare_states_names_every_difference():
    cpu = torch.device("cpu")
    reference = {"w": torch.tensor([1.0, 2.0]), "count": torch.tensor(3), "gone": torch.zeros(1),
                 "shape": torch.zeros(2)}
    rebuilt = {"w": torch.tensor([1.0, 2.5]), "count": torch.tensor(3.0), "extra": torch.zeros(1),
               "shape": torch.zeros(3)}
    figures = compare_states(reference, rebuilt, cpu)
    assert figures["weights_equal"] is False
    assert figures["mismatched_names"] == ["count", "extra", "gone", "shape", "w"]  # a dtype differs too
    assert figures["mismatched_tensors"] == 5
    assert (figures["compared_tensors"], figures["compared_scalars"]) == (3, 2 + 1 + 2)  # the common names
    assert figures["max_abs_diff"] == float("inf")  # a shape differs
    del reference["shape"], rebuilt["shape"]
    assert compare_states(reference, rebuilt, cpu)["max_abs_diff"] == 0.5
    same = compare_states(reference, {k: v.clone() for k, v in reference.items()}, cpu)
    assert same["weights_equal"] is True and same["mismatched_names"] == [] and same["max_abs_diff"] == 0.0


def test_reconstruction_compares_buffers_too(tmp_path):
    """A CNN's BatchNorm statistics are part of what was scored: rebuilding only the parameters
    fails the check, naming the buffers."""
    cnn = Digits("smoke", 0, {**Digits.defaults("smoke"), "model": "cnn"})
    cnn.prepare()
    model = cnn.base_model(pretrained=False)
    with torch.no_grad():
        model.train()(cnn.sample_inputs(8, torch.device("cpu")))  # running statistics move off their init
    model.eval()
    complete = Outcome(model=model, artifact=dense_artifact(model.state_dict()), reconstruct=expand_dense)
    assert Reconstruction().measure(context(cnn, complete, Reconstruction, tmp_path))["weights_equal"] is True
    params = dict(model.named_parameters())
    forgetful = Outcome(model=model, artifact=dense_artifact({n: p.detach() for n, p in params.items()}),
                        reconstruct=lambda artifact, device: state_with(cnn.base_model(pretrained=False),
                                                                        expand_dense(artifact, device)))
    figures = Reconstruction().measure(context(cnn, forgetful, Reconstruction, tmp_path))
    buffers = persistent_buffers(model)
    assert figures["weights_equal"] is False and set(figures["mismatched_names"]) == set(buffers)
    assert figures["compared_tensors"] == len(model.state_dict())


def test_reconstruction_skips_outcomes_without_artifact(task):
    ctx = context(task, Outcome(model=task.base_model(pretrained=False)), Reconstruction)
    assert Reconstruction().skip_reason(ctx)
    assert Compression().skip_reason(ctx)


def test_tied_weights_are_stored_once(tmp_path):
    shared = torch.nn.Parameter(torch.randn(4, 3))
    state = {"embed.weight": shared, "lm_head.weight": shared, "bias": torch.zeros(3)}
    artifact = dense_artifact(state)
    assert set(artifact.tensors) == {"embed.weight", "bias"}
    restored = expand_dense(artifact, "cpu")
    assert torch.equal(restored["lm_head.weight"], shared.detach())


def test_flops_is_skipped_with_the_reason_a_task_gives(task):
    """A task whose forward FlopCounterMode cannot see (a rasteriser) says so; the flops
    evaluation then skips with that reason instead of reporting the countable sliver."""
    outcome = Outcome(model=task.base_model(pretrained=False))
    assert Flops().skip_reason(context(task, outcome, Flops)) is None  # the default: counted

    class Uncountable(Digits):
        flops_uncountable = "its work is custom kernels"

    uncountable = Uncountable("smoke", 0, Digits.defaults("smoke"))
    reason = Flops().skip_reason(context(uncountable, outcome, Flops))
    assert reason and "its work is custom kernels" in reason
