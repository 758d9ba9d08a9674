"""PRANC as its official code runs it: bases are freshly initialised networks at every layer's
own init scale, θ0 is basis 0 with a trainable coefficient, BatchNorm is trained dense."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.running.store import RunStore
from ucdbench_plugins.methods.pranc.method import PRANCCode, fan_in_bounds
from ucdbench_plugins.shared.reparam.layouts import CombinationLayout, LowRankLayout, adapter_slots
from ucdbench_plugins.shared.reparam.seeded import derive_seed, uniform


def network() -> nn.Module:
    """A conv (fan-in 4·3·3 = 36) with BatchNorm, then a linear layer (fan-in 8·2·2 = 32)."""
    return nn.Sequential(nn.Conv2d(4, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(32, 500))


def one_hot(code: PRANCCode, j: int) -> None:
    with torch.no_grad():
        code.coefficients.zero_()
        code.coefficients[:, j] = 1.0


def test_only_linear_and_conv_layers_are_combined_with_their_fan_in_bounds():
    layout = CombinationLayout(network())
    assert list(layout.wanted()) == ["0.weight", "5.weight", "5.bias"]  # BatchNorm's affine is not combined
    bounds = fan_in_bounds(layout.wanted())
    assert bounds == {"0.weight": 1 / 6, "5.weight": 1 / math.sqrt(32), "5.bias": 1 / math.sqrt(32)}
    with pytest.raises(UcdbenchError, match="no fan-in"):
        fan_in_bounds({"1.weight": (8,)})


def test_basis_j_is_a_fresh_network_drawn_from_the_seed_at_each_layers_init_scale():
    wanted = CombinationLayout(network()).wanted()
    code = PRANCCode(wanted, None, bases=3, chunk_size=0, keep_bases=False, seed=5, rng="cpu", device="cpu")
    one_hot(code, 2)
    basis = code()
    draws = uniform((3, code.total), derive_seed(5, 0), "cpu")[2]  # the one chunk's basis 2, U(−1, 1)
    conv, linear, bias = draws[:288], draws[288:288 + 16_000], draws[288 + 16_000:]
    torch.testing.assert_close(basis["0.weight"], (conv / 6).view(8, 4, 3, 3))
    torch.testing.assert_close(basis["5.weight"], (linear / math.sqrt(32)).view(500, 32))
    torch.testing.assert_close(basis["5.bias"], bias / math.sqrt(32))
    # the distribution of nn.Linear's own reset_parameters: U(±1/√fan_in), variance bound²/3
    reference = nn.Linear(32, 500).weight.detach()
    for values in (basis["5.weight"], reference):
        assert values.abs().max() <= 1 / math.sqrt(32)
        assert values.var().item() == pytest.approx(1 / (3 * 32), rel=0.05)


def test_theta0_is_basis_0_with_a_trainable_coefficient_that_starts_at_1():
    wanted = CombinationLayout(network()).wanted()
    code = PRANCCode(wanted, None, bases=4, chunk_size=0, keep_bases=True, seed=5, rng="cpu", device="cpu")
    assert code.coefficients.tolist() == [[1.0, 0.0, 0.0, 0.0]]
    start = {name: t.detach().clone() for name, t in code().items()}
    one_hot(code, 0)
    assert all(torch.equal(start[n], t) for n, t in code().items())
    with torch.no_grad():
        code.coefficients.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    code()["5.weight"].sum().backward()
    assert code.coefficients.grad[0, 0] != 0  # θ0's coefficient trains with the others
    assert sum(t.numel() for t in code.stored().values()) == 4  # θ0's coefficient is stored


def test_chunks_each_combine_their_own_bases_and_theta0():
    wanted = {"w.weight": (10, 10), "w.bias": (10,)}  # 110 values, chunks of 40: 3 chunks, all at 1/√10
    code = PRANCCode(wanted, None, bases=2, chunk_size=40, keep_bases=False, seed=1, rng="cpu", device="cpu")
    assert code.chunks == 3 and code.coefficients.tolist() == [[1.0, 0.0]] * 3
    assert sum(t.numel() for t in code.stored().values()) == 3 * 2
    flat = torch.cat([t.reshape(-1) for t in code().values()])
    expected = torch.cat([uniform((2, 40), derive_seed(1, n), "cpu")[0] for n in range(3)])[:110] / math.sqrt(10)
    torch.testing.assert_close(flat, expected)


def test_adapter_basis_0_is_the_lora_start_so_training_starts_at_the_pretrained_model():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=32, n_layer=1, n_head=2))
    layout = LowRankLayout(adapter_slots(model, ["q", "v"]), rank=2, alpha=4.0)
    initial = layout.initial(0, torch.device("cpu"), "cpu")
    code = PRANCCode(layout.wanted(), initial, bases=5, chunk_size=0, keep_bases=False, seed=0, rng="cpu",
                     device="cpu")
    assert code.basis.count == 4  # basis 0 is the LoRA start, not drawn
    factors = code()
    assert all(torch.equal(factors[n], initial[n]) for n in factors)  # A at LoRA's init, B = 0: ΔW = 0
    with pytest.raises(UcdbenchError, match="bases"):
        PRANCCode(layout.wanted(), initial, bases=1, chunk_size=0, keep_bases=False, seed=0, rng="cpu", device="cpu")


def test_batchnorm_is_trained_dense_stored_and_rebuilt(tmp_path):
    from ucdbench.running.artifacts import read_artifact
    from ucdbench.discovery.registry import load_registry
    from ucdbench.running.runner import RunSpec, execute, resolve

    overrides = {"task.model": "cnn", "task.classes": "0-9", "task.pretrain_classes": "none", "task.width": 8,
                 "bases": 20, "epochs": 1}
    run = resolve(load_registry(), RunSpec("pranc", "mnist", "smoke", 0, "cpu", overrides))
    record = execute(run, "cpu", RunStore(tmp_path))
    assert record["status"] == "ok", record.get("traceback")
    artifact = read_artifact(record["artifact"])
    affine = {"features.1.weight", "features.1.bias", "features.4.weight", "features.4.bias"}  # BN of 8 and 16
    statistics = {f"features.{i}.{b}" for i in (1, 4) for b in ("running_mean", "running_var", "num_batches_tracked")}
    assert set(artifact.tensors) == {"coefficients"} | affine | statistics
    assert set(artifact.dense) == affine | statistics
    assert not torch.equal(artifact.tensors["features.1.weight"], torch.ones(8))  # trained, not left at BN's init
    compression = record["evaluations"]["compression"]
    assert compression["stored_scalars"] == 20 + 2 * (8 + 16) + (2 * 8 + 1) + (2 * 16 + 1)
    assert record["evaluations"]["reconstruction"]["weights_equal"] is True
