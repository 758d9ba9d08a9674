"""NOLA as its official code forms and starts A and B: the GPT-2 LoRA layer (frozen N(0, 0.02²)
base terms, coefficients at 0) and NOLA-MLP for a ViT's fc1/fc2 (rank 1, coefficients at 1/k)."""

from __future__ import annotations

import math

import pytest
import torch

from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.running.runner import merge_config
from ucdbench.running.store import RunStore
from ucdbench_plugins.methods.nola.method import NOLA, NOLACode
from ucdbench_plugins.shared.reparam.layouts import LayerLowRankLayout, LowRankLayout, adapter_slots, layout_from_spec
from ucdbench_plugins.shared.reparam.seeded import derive_seed, uniform


def gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=32, n_layer=2, n_head=2))


def vit():
    import timm.models.vision_transformer as timm_vit

    return timm_vit.VisionTransformer(img_size=8, patch_size=2, in_chans=1, num_classes=5, embed_dim=16, depth=2,
                                      num_heads=2, mlp_ratio=2.0)


ONE_MATRIX = {"m.A": (2, 3), "m.B": (4, 2)}
"""A tiny adapted matrix: rank 2, in 3, out 4. Its factor F's bases are one row of a
:class:`SeededBasis` seeded ``derive_seed(seed, "m", F)``: drawn from ``derive_seed(that, 0)``."""


def gaussian(shape, seed, std):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * std


def test_gpt2_form_starts_at_frozen_gaussian_base_terms_with_zero_coefficients():
    code = NOLACode(ONE_MATRIX, k=5, l=3, keep_bases=False, seed=9, rng="cpu", device="cpu", form="gpt2")
    assert code.a.tolist() == [[0.0] * 5] and code.b.tolist() == [[0.0] * 3]
    factors = code()
    a0, b0 = gaussian((2, 3), derive_seed(9, "m", "A", "base"), 0.02), gaussian((4, 2), derive_seed(9, "m", "B", "base"), 0.02)
    torch.testing.assert_close(factors["m.A"], a0)
    torch.testing.assert_close(factors["m.B"], b0)
    layout = LowRankLayout([], rank=2, alpha=4.0)
    delta = layout.scale * factors["m.B"] @ factors["m.A"]
    torch.testing.assert_close(delta, 2.0 * b0 @ a0)  # ΔW at the start: (alpha/rank)·B0 A0, not zero
    assert {id(p) for p in code.parameters()} == {id(code.a), id(code.b)}  # the base terms never train
    big = NOLACode({"m.A": (8, 1000), "m.B": (1000, 8)}, k=2, l=2, keep_bases=False, seed=0, rng="cpu", device="cpu")
    assert big()["m.A"].std().item() == pytest.approx(0.02, rel=0.05)


def test_gpt2_form_bases_are_uniform_over_root_k_added_to_the_base_term():
    code = NOLACode(ONE_MATRIX, k=5, l=3, keep_bases=False, seed=9, rng="cpu", device="cpu", form="gpt2")
    with torch.no_grad():
        code.a[0, 3] = 1.0
        code.b[0, 1] = -2.0
    factors = code()
    a_basis = uniform((5, 6), derive_seed(derive_seed(9, "m", "A"), 0), "cpu")[3] / math.sqrt(5)
    b_basis = uniform((3, 8), derive_seed(derive_seed(9, "m", "B"), 0), "cpu")[1] / math.sqrt(3)
    torch.testing.assert_close(factors["m.A"], code.base_terms["m.A"] + a_basis.view(2, 3))
    torch.testing.assert_close(factors["m.B"], code.base_terms["m.B"] - 2.0 * b_basis.view(4, 2))


def test_nola_mlp_form_starts_at_the_mean_of_kaiming_uniform_bases_without_a_base_term():
    code = NOLACode(ONE_MATRIX, k=5, l=3, keep_bases=True, seed=9, rng="cpu", device="cpu", form="vit-mlp")
    torch.testing.assert_close(code.a, torch.full((1, 5), 1 / 5))
    torch.testing.assert_close(code.b, torch.full((1, 3), 1 / 3))
    assert not code.base_terms
    factors = code()
    # kaiming_uniform_(a=√5) over a (k, in, rank) tensor: bound 1/√(in·rank); B over (l, rank, out): 1/√(rank·out)
    a_bases = uniform((5, 6), derive_seed(derive_seed(9, "m", "A"), 0), "cpu") / math.sqrt(3 * 2)
    b_bases = uniform((3, 8), derive_seed(derive_seed(9, "m", "B"), 0), "cpu") / math.sqrt(2 * 4)
    torch.testing.assert_close(factors["m.A"], a_bases.mean(0).view(2, 3))
    torch.testing.assert_close(factors["m.B"], b_bases.mean(0).view(4, 2))
    assert a_bases.abs().max() <= 1 / math.sqrt(6) and b_bases.abs().max() <= 1 / math.sqrt(8)


def test_form_and_auto_settings_follow_the_official_scripts():
    nola = NOLA()
    paper = NOLA.defaults("paper")
    on_vit = nola.configure(vit(), paper, "paper")
    assert {k: on_vit[k] for k in ("form", "rank", "alpha", "k", "l", "lr")} == {
        "form": "vit-mlp", "rank": 1, "alpha": 1.0, "k": 1024, "l": 1024, "lr": 5e-3}
    on_gpt2 = nola.configure(gpt2(), paper, "paper")
    assert {k: on_gpt2[k] for k in ("form", "rank", "alpha", "k", "l", "lr")} == {
        "form": "gpt2", "rank": 8, "alpha": 2.0, "k": 256, "l": 256, "lr": 1e-2}
    scratch = nola.configure(vit(), {**paper, "mode": "scratch"}, "paper")
    assert {k: scratch[k] for k in ("form", "rank", "alpha", "k", "l", "lr", "head_bases")} == {
        "form": "gpt2", "rank": 64, "alpha": 2.0, "k": 2_000, "l": 2_000, "lr": 1e-3, "head_bases": 10_000}
    small = nola.configure(vit(), {**NOLA.defaults("small"), "mode": "scratch"}, "small")
    assert {k: small[k] for k in ("rank", "k", "l", "head_bases")} == {"rank": 4, "k": 64, "l": 64, "head_bases": "auto"}
    assert nola.configure(vit(), {**paper, "targets": ["q", "v"]}, "paper")["form"] == "gpt2"
    assert nola.configure(vit(), {**paper, "k": 7, "form": "gpt2"}, "paper")["k"] == 7  # a number overrides auto
    with pytest.raises(UcdbenchError, match="form='lora'.*expected one of 'auto', 'gpt2', 'vit-mlp'"):
        merge_config(NOLA, "paper", {"form": "lora"}, "nola")
    with pytest.raises(UcdbenchError, match="k=0.*expected one of 'auto' or an integer ≥ 1"):
        merge_config(NOLA, "paper", {"k": 0}, "nola")


def test_vit_adapter_runs_nola_mlp_on_fc1_and_fc2_and_rebuilds(tmp_path):
    from ucdbench.running.artifacts import read_artifact
    from ucdbench.discovery.registry import load_registry
    from ucdbench.running.runner import RunSpec, execute, resolve

    run = resolve(load_registry(), RunSpec("nola", "digits", "smoke", 0, "cpu", {"epochs": 1}))
    record = execute(run, "cpu", RunStore(tmp_path))
    assert record["status"] == "ok", record.get("traceback")
    artifact = read_artifact(record["artifact"])
    spec, layout = artifact.metadata["code"], artifact.metadata["layout"]
    assert spec["form"] == "vit-mlp" and (spec["k"], spec["l"], layout["rank"], layout["alpha"]) == (16, 16, 1, 1.0)
    depth = run.task_config["depth"]
    assert sorted({s["name"].rsplit(".", 1)[-1] for s in layout["slots"]}) == ["fc1", "fc2"] and spec["matrices"] == 2 * depth
    assert artifact.tensors["a"].numel() + artifact.tensors["b"].numel() == 2 * depth * (16 + 16)
    assert record["evaluations"]["reconstruction"]["weights_equal"] is True


def test_gpt2_adapters_on_q_and_v_store_k_plus_l_per_matrix():
    model = gpt2()
    layout = LowRankLayout(adapter_slots(model, "auto"), rank=4, alpha=8.0)
    code = NOLACode(layout.wanted(), k=16, l=12, keep_bases=False, seed=0, rng="cpu", device="cpu")
    assert code.form == "gpt2" and len(layout.slots) == 4  # Q and V of 2 layers
    assert sum(t.numel() for t in code.stored().values()) == len(layout.slots) * (16 + 12)


class TinyCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, bias=False)
        self.bn = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Linear(4, 3)


def test_scratch_layout_is_one_near_square_matrix_per_layer_bias_included_batchnorm_left_dense():
    """The paper's "all parameters of a layer" in one matrix "close to square shape": the
    classifier's 12 weights and 3 biases are a 3 × 5 matrix, the 36 conv weights 6 × 6."""
    network = TinyCNN()
    layout = LayerLowRankLayout.of(network, rank=2, alpha=4.0)
    assert [(s.name, s.out_features, s.in_features) for s in layout.slots] == [("conv", 6, 6), ("head", 3, 5)]
    assert layout.params == ["conv.weight", "head.weight", "head.bias"]  # BatchNorm's affine is not generated
    generated = {name: torch.randn(shape) for name, shape in layout.wanted().items()}
    base = {name: p.detach() for name, p in network.named_parameters() if name in layout.params}
    weights = layout.compose(generated, base)
    head_delta = (2.0 * generated["head.B"] @ generated["head.A"]).reshape(-1)
    assert torch.equal(weights["head.weight"], base["head.weight"] + head_delta[:12].view(3, 4))
    assert torch.equal(weights["head.bias"], base["head.bias"] + head_delta[12:])
    assert layout_from_spec(layout.spec(), TinyCNN()).spec() == layout.spec()
    with pytest.raises(UcdbenchError, match="different architecture"):
        layout_from_spec(layout.spec(), torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_the_classifier_has_its_own_bases_and_its_code_rebuilds_bitwise():
    layout = LayerLowRankLayout.of(TinyCNN(), rank=2, alpha=4.0)
    code = NOLACode(layout.wanted(), k=3, l=2, keep_bases=True, seed=4, rng="cpu", device="cpu", head=("head",),
                    head_k=7, head_l=7)
    assert {name: tuple(t.shape) for name, t in code.stored().items()} == {
        "a": (1, 3), "b": (1, 2), "head_a": (1, 7), "head_b": (1, 7)}
    with torch.no_grad():
        for coefficients in code.stored().values():
            coefficients.normal_()
    tensors = {name: t.detach().clone() for name, t in code.stored().items()}
    rebuilt = NOLACode.rebuild(code.spec(), tensors, layout.wanted(), None, torch.device("cpu"))
    trained, again = code(), rebuilt()
    assert all(torch.equal(trained[name], again[name]) for name in layout.wanted())
    same_seed = NOLACode(layout.wanted(), k=3, l=2, keep_bases=True, seed=4, rng="cpu", device="cpu", head=("head",))
    assert same_seed.head_a.shape == (1, 3)  # without its own count the classifier takes k and l


def test_scratch_run_stores_coefficients_and_batchnorm_only_and_rebuilds_bitwise(tmp_path):
    from ucdbench.running.artifacts import read_artifact
    from ucdbench.discovery.registry import load_registry
    from ucdbench.running.runner import RunSpec, execute, resolve

    overrides = {"mode": "scratch", "epochs": 1, "head_bases": 8, "task.model": "cnn", "task.classes": "0-9",
                 "task.pretrain_classes": "none", "task.width": 8}
    run = resolve(load_registry(), RunSpec("nola", "digits", "smoke", 0, "cpu", overrides))
    record = execute(run, "cpu", RunStore(tmp_path))
    assert record["status"] == "ok", record.get("traceback")
    assert record["evaluations"]["reconstruction"]["weights_equal"] is True
    artifact = read_artifact(record["artifact"])
    spec, layers = artifact.metadata["code"], artifact.metadata["layout"]["layers"]
    assert spec["head"] == ["head"] and artifact.tensors["head_a"].shape == artifact.tensors["head_b"].shape == (1, 8)
    assert artifact.tensors["a"].shape == (spec["matrices"], 32) and spec["matrices"] == len(layers) - 1
    generated = {name for tensors in layers.values() for name, _ in tensors}
    assert {"head.weight", "head.bias"} <= generated and not generated & set(artifact.tensors)
    assert artifact.metadata["head"] and all(name.rsplit(".", 1)[0] not in layers for name in artifact.metadata["head"])
