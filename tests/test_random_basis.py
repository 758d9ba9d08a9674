"""MCNC, NOLA, PRANC and VeRA: the math's invariants, the papers' stored-scalar formulas, and
artifacts that rebuild bit-identical weights through the harness."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call

from ucdbench.contracts.interfaces import FitContext, UcdbenchError
from ucdbench.running.runner import merge_config
from ucdbench.contracts.state import persistent_buffers
from ucdbench.running.store import RunStore
from ucdbench_plugins.methods.mcnc.method import MCNC, MCNCCode, SineGenerator
from ucdbench_plugins.methods.nola.method import NOLA, NOLACode
from ucdbench_plugins.methods.pranc.method import PRANC
from ucdbench_plugins.shared.reparam.layouts import DirectLayout, LowRankLayout, adapter_slots
from ucdbench_plugins.shared.reparam.seeded import SeededBasis, derive_seed, uniform


def gpt2(n_embd: int = 32, n_layer: int = 2, n_head: int = 2, device: str = "cpu"):
    from transformers import GPT2Config, GPT2LMHeadModel

    with torch.device(device):
        return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=n_embd, n_layer=n_layer, n_head=n_head))


# -- seeded bases -----------------------------------------------------------------------------


def test_kept_and_regenerated_bases_agree_bitwise_and_match_the_explicit_sum():
    coefficients = torch.randn(3, 5, generator=torch.Generator().manual_seed(1))
    results = {}
    for keep in (False, True):
        basis = SeededBasis(seed=7, rows=3, count=5, size=11, scale=0.5, keep=keep)
        c = coefficients.clone().requires_grad_(True)
        out = basis.combine(c)
        (out * torch.arange(11.0)).sum().backward()
        results[keep] = (out.detach(), c.grad)
    assert torch.equal(results[False][0], results[True][0])
    assert torch.equal(results[False][1], results[True][1])
    explicit = torch.stack([uniform((5, 11), derive_seed(7, n), "cpu") * 0.5 for n in range(3)])
    c = coefficients.clone().requires_grad_(True)
    reference = torch.einsum("nk,nks->ns", c, explicit)
    (reference * torch.arange(11.0)).sum().backward()
    torch.testing.assert_close(results[False][0], reference.detach())
    torch.testing.assert_close(results[False][1], c.grad)


def test_regenerated_bases_are_not_saved_for_backward():
    saved: list[int] = []
    basis = SeededBasis(seed=0, rows=1, count=64, size=4096, scale=1.0, keep=False)
    coefficients = torch.zeros(1, 64, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        basis.combine(coefficients).sum().backward()
    assert sum(saved) < 64 * 4096 // 100  # nothing of basis size is held between the passes


def test_bases_drawn_by_a_cuda_generator_refuse_to_rebuild_on_cpu():
    with pytest.raises(RuntimeError, match="CUDA device"):
        uniform((3,), 0, "cpu", rng="cuda")


def test_different_seeds_and_paths_give_different_bases():
    assert derive_seed(0, "layer", "A") != derive_seed(0, "layer", "B") != derive_seed(1, "layer", "A")
    assert not torch.equal(uniform((100,), derive_seed(0, "a"), "cpu"), uniform((100,), derive_seed(1, "a"), "cpu"))
    assert torch.equal(uniform((100,), 5, "cpu"), uniform((100,), 5, "cpu"))


# -- MCNC ------------------------------------------------------------------------------------------


def mcnc_code(wanted, activation="sine", d=40, k=3):
    return MCNCCode(wanted, None, k=k, d=d, width=16, depth=2, frequency=30.0, activation=activation,
                    alpha_range=1.0, seed=3, rng="cpu", device="cpu")


def test_mcnc_generator_maps_onto_the_unit_sphere():
    phi = SineGenerator(k=5, d=300, width=32, depth=2, frequency=30.0, activation="sine", seed=0, rng="cpu")
    points = phi(torch.randn(20, 5))
    torch.testing.assert_close(points.norm(dim=1), torch.ones(20))


def test_mcnc_chunks_move_on_spheres_of_radius_beta_and_start_at_theta0():
    code = mcnc_code({"w": (10, 10), "b": (10,)}, d=40)  # 110 values → 3 chunks, the last cut to 30
    assert code.chunks == 3 and code.total == 110
    assert torch.count_nonzero(code.offsets()) == 0  # β = 0: training starts at θ0
    with torch.no_grad():
        code.beta.copy_(torch.tensor([0.5, -2.0, 3.0]))
    flat = code.offsets()
    torch.testing.assert_close(flat[:40].norm(), torch.tensor(0.5))
    torch.testing.assert_close(flat[40:80].norm(), torch.tensor(2.0))
    assert flat[80:].norm() < 3.0  # the last chunk is a cut piece of a radius-3 point
    assert set(code.stored()) == {"alpha", "beta"}
    assert sum(t.numel() for t in code.stored().values()) == 3 * (3 + 1)  # chunks × (k + 1)


def test_mcnc_sine_generator_differs_from_the_linear_one_and_both_train():
    wanted = {"w": (20, 20)}
    outputs = {}
    for activation in ("sine", "none"):
        code = mcnc_code(wanted, activation, d=400, k=4)
        with torch.no_grad():
            code.beta.fill_(1.0)
        outputs[activation] = code()["w"]
        code()["w"].sum().backward()
        assert code.alpha.grad.abs().sum() > 0
    assert not torch.allclose(outputs["sine"], outputs["none"])


# -- NOLA and the adapter layouts ------------------------------------------------------------------


def test_gpt2_large_stored_scalars_match_the_papers():
    """NOLA on Q and V with k = l = 256 stores 36,864; LoRA r = 1 on the same stores 184,320."""
    from peft import LoraConfig, get_peft_model

    model = gpt2(n_embd=1280, n_layer=36, n_head=20, device="meta")  # GPT-2 Large, nothing allocated
    slots = adapter_slots(model, "auto")
    assert {s.name.rsplit(".", 1)[-1] for s in slots} == {"q", "v"} and len(slots) == 72
    nola = NOLACode(LowRankLayout(slots, rank=8, alpha=16.0).wanted(), k=256, l=256, keep_bases=False, seed=0,
                    rng="cpu", device="cpu")
    assert sum(t.numel() for t in nola.stored().values()) == 36_864
    assert sum(math.prod(s) for s in LowRankLayout(slots, rank=1, alpha=1.0).wanted().values()) == 184_320
    peft_lora = get_peft_model(model, LoraConfig(r=1, target_modules=["c_attn"], fan_in_fan_out=True))
    assert sum(p.numel() for n, p in peft_lora.named_parameters() if "lora_" in n) == 184_320


def test_q_and_v_slices_of_gpt2_attention_change_only_their_columns():
    model = gpt2().eval()
    layout = LowRankLayout(adapter_slots(model, ["q", "v"]), rank=2, alpha=2.0)
    generator = torch.Generator().manual_seed(0)
    factors = {n: torch.randn(s, generator=generator) for n, s in layout.wanted().items()}
    base = {n: p.detach() for n, p in model.named_parameters() if n in layout.params}
    weights = layout.compose(factors, base)
    name = "transformer.h.0.attn.c_attn"
    weight, width = weights[f"{name}.weight"], 32  # Conv1D: (in, 3 · width), columns are Q | K | V
    q = factors[f"{name}.q.B"] @ factors[f"{name}.q.A"]
    torch.testing.assert_close(weight[:, :width], base[f"{name}.weight"][:, :width] + q.T)
    assert torch.equal(weight[:, width:2 * width], base[f"{name}.weight"][:, width:2 * width])  # K untouched
    assert not torch.equal(weight[:, 2 * width:], base[f"{name}.weight"][:, 2 * width:])
    ids = torch.randint(0, 64, (2, 8), generator=generator)
    with torch.no_grad():
        generated = functional_call(model, weights, (ids,)).logits
        for n, w in weights.items():
            dict(model.named_parameters())[n].copy_(w)
        assert torch.equal(model(ids).logits, generated)


def test_direct_layout_covers_every_parameter_once():
    model = gpt2()
    layout = DirectLayout(model)
    assert sum(math.prod(s) for s in layout.wanted().values()) == sum(p.numel() for p in model.parameters())


# -- through the harness ------------------------------------------------------------------------

MNIST_SCRATCH = {"task.model": "mlp", "task.classes": "0-9", "task.pretrain_classes": "none", "mode": "scratch",
                 "epochs": 2}


@pytest.mark.parametrize("method, task, overrides, expected", [
    ("mcnc", "mnist", {**MNIST_SCRATCH, "k": 4, "d": 2000}, lambda spec, n: spec["chunks"] * (4 + 1)),
    ("pranc", "mnist", {**MNIST_SCRATCH, "bases": 30}, lambda spec, n: 30),
    ("nola", "mnist", {**MNIST_SCRATCH, "k": 5, "l": 3, "rank": 1}, lambda spec, n: n * (5 + 3)),
    ("nola", "pydocs", {"k": 8, "l": 8, "epochs": 0.5}, lambda spec, n: n * 16),
    ("mcnc", "digits", {"mode": "adapter", "k": 4, "d": 500, "epochs": 1}, lambda spec, n: spec["chunks"] * 5),
    ("nola", "digits", {"mode": "adapter", "task.model": "cnn", "k": 4, "l": 4, "epochs": 1}, lambda spec, n: n * 8),
])
def test_artifact_holds_coefficients_head_and_buffers_and_rebuilds_the_complete_state(tmp_path, method, task,
                                                                                      overrides, expected):
    from ucdbench.running.artifacts import read_artifact
    from ucdbench.discovery.registry import load_registry
    from ucdbench.running.runner import RunSpec, execute, resolve

    run = resolve(load_registry(), RunSpec(method, task, "smoke", 0, "cpu", overrides))
    record = execute(run, "cpu", RunStore(tmp_path))
    assert record["status"] == "ok", record.get("traceback")
    artifact = read_artifact(record["artifact"])
    spec, head = artifact.metadata["code"], artifact.metadata["head"]
    layout = artifact.metadata["layout"]
    matrices = len(layout.get("slots", layout.get("layers", [])))  # NOLA from scratch: one matrix per layer
    coefficient_names = {"mcnc": {"alpha", "beta"}, "pranc": {"coefficients"}, "nola": {"a", "b"}}[method]
    if spec.get("head"):  # NOLA from scratch: the classifier's own coefficients (here k and l, the default)
        coefficient_names |= {"head_a", "head_b"}
    task_obj = run.task.load()("smoke", 0, run.task_config)
    task_obj.prepare()
    architecture = task_obj.base_model(pretrained=False)
    buffers = persistent_buffers(architecture)
    assert bool(buffers) == (overrides.get("task.model") == "cnn")
    assert set(artifact.tensors) == coefficient_names | set(head) | set(buffers)
    assert set(artifact.dense) == set(head) | set(buffers)
    figures = record["evaluations"]
    compression = figures["compression"]
    assert compression["stored_scalars"] - compression["dense_scalars"] == expected(spec, matrices)
    reconstruction = figures["reconstruction"]
    assert reconstruction["weights_equal"] is True and reconstruction["mismatched_names"] == []
    # every parameter (a tied one under each name) and every buffer of the network was compared
    assert reconstruction["compared_tensors"] == len(architecture.state_dict())
    assert reconstruction["compared_scalars"] == sum(t.numel() for t in architecture.state_dict().values())


# -- the complete state, rebuilt from the file alone ------------------------------------------

CNN_SCRATCH = ("--set", "task.model=cnn", "--set", "task.classes=0-9", "--set", "task.pretrain_classes=none",
               "--set", "mode=scratch")
REBUILD_AND_SCORE = """
import json, sys, torch
from ucdbench.running.rebuild import rebuild_run
scores = {}
for path in sys.argv[1:]:
    record = json.load(open(path))
    task, model = rebuild_run(record)
    scores[record["method"]["name"]] = task.evaluate(model, torch.device("cpu"))
print(json.dumps(scores))
"""


@pytest.fixture(scope="module")
def cnn_runs(tmp_path_factory):
    """mcnc, pranc and nola trained from scratch on a CNN with BatchNorm, through the CLI."""
    from conftest import run_cli

    results = tmp_path_factory.mktemp("cnn-runs")
    done = run_cli("run", "--method", "mcnc", "pranc", "nola", "--task", "mnist", "--preset", "smoke", *CNN_SCRATCH,
                   results=results)
    assert done.returncode == 0, done.stdout + done.stderr
    store = RunStore(results)
    return store, {record["method"]["name"]: record for record in store.scan()[0]}


@pytest.mark.ucdbench_e2e
def test_a_model_rebuilt_from_its_file_in_a_fresh_process_scores_the_same_to_the_last_digit(cnn_runs):
    import json
    import os
    import subprocess
    import sys

    store, records = cnn_runs
    assert set(records) == {"mcnc", "pranc", "nola"}
    fresh = subprocess.run([sys.executable, "-c", REBUILD_AND_SCORE, *(str(store.record_path(r["key"]))
                                                                      for r in records.values())],
                           capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert fresh.returncode == 0, fresh.stderr
    scores = json.loads(fresh.stdout)
    for method, record in records.items():
        assert record["evaluations"]["reconstruction"]["weights_equal"] is True, method
        scored = record["evaluations"]["accuracy"]
        assert scores[method]["top1"] > 15.0, method  # learnt something: chance is 10%, BN statistics matter
        assert scores[method] == {"top1": scored["top1"], "nll": scored["nll"]}, method


@pytest.mark.ucdbench_e2e
def test_stored_buffers_are_counted_as_dense_scalars(cnn_runs):
    from ucdbench.running.artifacts import read_artifact
    from ucdbench_plugins.tasks.images.datasets import MNIST

    _, records = cnn_runs
    task = MNIST("smoke", 0, next(iter(records.values()))["task"]["config"])
    task.prepare()
    network = task.base_model(pretrained=False)
    buffers = persistent_buffers(network)  # smoke CNN: BN of 32 and 64 channels
    # running mean and variance per channel, one batch counter per BN layer
    assert sum(b.numel() for b in buffers.values()) == (32 + 32 + 1) + (64 + 64 + 1) == 194
    # PRANC combines conv and linear layers only and stores BatchNorm's affine dense, as its code does;
    # NOLA generates one matrix per conv and linear layer (bias included) and stores the affine dense,
    # as the NOLA paper trains its ImageNet-100 ResNet-18
    layers = [m for m in network.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    affine = {"features.1.weight", "features.1.bias", "features.4.weight", "features.4.bias"}
    assert affine <= set(dict(network.named_parameters()))
    for method, record in records.items():
        artifact = read_artifact(record["artifact"])
        spec = artifact.metadata["code"]
        coefficients = {"mcnc": lambda: spec["chunks"] * (spec["k"] + 1),
                        "pranc": lambda: spec["chunks"] * spec["bases"],
                        "nola": lambda: len(layers) * (spec["k"] + spec["l"])}[method]()
        dense = set(buffers) | (affine if method in ("pranc", "nola") else set())
        dense_scalars = 194 + (2 * (32 + 64) if method in ("pranc", "nola") else 0)
        compression = record["evaluations"]["compression"]
        assert set(artifact.dense) == dense, method
        assert compression["dense_scalars"] == dense_scalars, method
        assert compression["stored_scalars"] == coefficients + dense_scalars, method


@pytest.mark.parametrize("method", ["mcnc", "pranc", "nola"])
def test_each_method_learns_mnist_from_scratch_at_a_fraction_of_a_percent(method):
    from ucdbench_plugins.tasks.images.datasets import MNIST
    from ucdbench_plugins.methods.mcnc.method import MCNC
    from ucdbench_plugins.methods.nola.method import NOLA
    from ucdbench_plugins.methods.pranc.method import PRANC

    cls = {"mcnc": MCNC, "pranc": PRANC, "nola": NOLA}[method]
    task = MNIST("smoke", 0, {**MNIST.defaults("smoke"), "model": "mlp", "classes": "0-9", "pretrain_classes": "none"})
    task.prepare()
    budget = {"mcnc": {"k": 4, "d": 1000}, "pranc": {"bases": 30}, "nola": {"k": 4, "l": 4, "rank": 4, "lr": 0.02}}
    config = {**cls.defaults("smoke"), "mode": "scratch", "epochs": 3, **budget[method]}
    ctx = FitContext(device=torch.device("cpu"), seed=0, preset="smoke", progress=lambda it, **_: it)
    outcome = cls().fit(task, config, ctx)
    params = sum(p.numel() for p in outcome.model.parameters())
    assert outcome.artifact.stored_scalars() < 0.01 * params
    assert task.evaluate(outcome.model, torch.device("cpu"))["top1"] > 20.0  # chance is 10%


def test_vera_stores_scaling_vectors_and_rebuilds_peft_merge(tmp_path):
    from ucdbench.running.artifacts import read_artifact
    from ucdbench.discovery.registry import load_registry
    from ucdbench.running.runner import RunSpec, execute, resolve

    run = resolve(load_registry(), RunSpec("vera", "pydocs", "smoke", 0, "cpu", {"rank": 8, "epochs": 0.5}))
    record = execute(run, "cpu", RunStore(tmp_path))
    assert record["status"] == "ok", record.get("traceback")
    artifact = read_artifact(record["artifact"])
    layers = artifact.metadata["layers"]
    assert all(n.endswith(("lambda_d", "lambda_b")) for n in artifact.tensors)
    width = 3 * run.task_config["n_embd"]  # c_attn's outputs
    assert artifact.stored_scalars() == len(layers) * (width + 8)
    assert record["evaluations"]["reconstruction"]["weights_equal"] is True


def test_reconstruction_fails_without_a_buffer_and_never_reads_the_trained_model(tmp_path):
    """The check can fail: an artifact that lacks one BatchNorm buffer rebuilds the architecture's
    fresh one, which is not what was scored. And the rebuild comes from the file and the task
    alone: wiping the trained model changes nothing it returns."""
    from ucdbench.running.artifacts import read_artifact, write_artifact
    from ucdbench_plugins.evaluations.reconstruction import Reconstruction
    from ucdbench_plugins.hardware.cpu import CPU
    from ucdbench.contracts.interfaces import Artifact, EvaluationContext
    from ucdbench_plugins.tasks.images.datasets import MNIST
    from ucdbench_plugins.methods.mcnc.method import MCNC

    task = MNIST("smoke", 0, {**MNIST.defaults("smoke"), "model": "cnn", "classes": "0-9", "pretrain_classes": "none"})
    task.prepare()
    ctx = FitContext(device=torch.device("cpu"), seed=0, preset="smoke", progress=lambda it, **_: it)
    outcome = MCNC().fit(task, {**MCNC.defaults("smoke"), "mode": "scratch", "epochs": 0.5}, ctx)

    def check(artifact):
        path = tmp_path / f"{len(artifact.tensors)}.safetensors"
        write_artifact(path, artifact)
        return Reconstruction().measure(EvaluationContext(task, outcome, CPU(), torch.device("cpu"), "smoke",
                                                          {"repeats": 1}, artifact_path=path))

    honest = check(outcome.artifact)
    assert honest["weights_equal"] is True and honest["max_abs_diff"] == 0.0
    forgotten = "features.1.running_var"
    artifact = outcome.artifact
    forgetful = Artifact({n: t for n, t in artifact.tensors.items() if n != forgotten}, artifact.metadata,
                         tuple(n for n in artifact.dense if n != forgotten))
    figures = check(forgetful)
    assert figures["weights_equal"] is False
    assert figures["mismatched_names"] == [forgotten] and figures["mismatched_tensors"] == 1
    trained_var = outcome.model.state_dict()[forgotten]
    assert figures["max_abs_diff"] == pytest.approx(float((trained_var - 1).abs().max()))  # fresh BN: variance 1

    path = tmp_path / "honest.safetensors"
    write_artifact(path, artifact)
    before = {n: t.clone() for n, t in outcome.reconstruct(read_artifact(path), torch.device("cpu")).items()}
    with torch.no_grad():
        for tensor in outcome.model.state_dict().values():
            tensor.zero_()
    after = outcome.reconstruct(read_artifact(path), torch.device("cpu"))
    assert set(before) == set(after) and all(torch.equal(before[n], after[n]) for n in before)


@pytest.mark.parametrize("method", [MCNC, NOLA, PRANC])
def test_the_shared_settings_refuse_the_same_values_in_every_random_basis_method(method):
    for overrides, refused in (({"mode": "hybrid"}, "expected one of 'scratch', 'adapter'"),
                               ({"targets": "fc1"}, "expected one of 'auto' or a JSON list"),
                               ({"epochs": 0}, "expected a number > 0"),
                               ({"weight_decay": -0.1}, "expected a number ≥ 0")):
        with pytest.raises(UcdbenchError, match=refused):
            merge_config(method, "smoke", overrides, method.name)
    assert merge_config(method, "smoke", {"mode": "adapter", "epochs": 0.5}, method.name)["epochs"] == 0.5

