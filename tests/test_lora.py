"""LoRA through PEFT: what the artifact stores, and that reconstruction equals PEFT's merge."""

from __future__ import annotations

import pytest
import torch

from ucdbench.running.artifacts import read_artifact, write_artifact
from ucdbench.contracts.interfaces import FitContext, UcdbenchError
from ucdbench.running.rebuild import rebuild_model
from ucdbench.running.runner import merge_config
from ucdbench.contracts.state import persistent_buffers
from ucdbench_plugins.tasks.images.datasets import Digits
from ucdbench_plugins.methods.lora.method import LoRA
from ucdbench_plugins.shared.peft_adapter import auto_targets


def fit(model: str, rank: int):
    task = Digits("smoke", 0, {**Digits.defaults("smoke"), "model": model})
    task.prepare()
    config = {**LoRA.defaults("smoke"), "rank": rank, "epochs": 0.5}
    ctx = FitContext(device=torch.device("cpu"), seed=0, preset="smoke", progress=lambda it, **_: it)
    return task, LoRA().fit(task, config, ctx)


@pytest.mark.parametrize("model", ["vit", "cnn"])
def test_artifact_holds_only_adapters_and_head(model, tmp_path):
    task, outcome = fit(model, rank=2)
    base = task.base_model(pretrained=True)
    modules = dict(base.named_modules())
    targets = [name for name in modules if any(name.endswith(t) or name == t for t in auto_targets(base))]
    expected = 0
    for name in targets:
        layer = modules[name]
        if isinstance(layer, torch.nn.Linear):
            expected += 2 * (layer.in_features + layer.out_features)
        else:  # Conv2d: A is (r, c_in, k, k), B is (c_out, r, 1, 1)
            expected += 2 * (layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1] + layer.out_channels)
    head = sum(p.numel() for p in base.head.parameters())
    buffers = persistent_buffers(base)  # BatchNorm statistics of the CNN, which adapter training updates
    artifact = outcome.artifact
    assert artifact.stored_scalars() == expected + head + sum(b.numel() for b in buffers.values())
    assert artifact.dense_scalars() == head + sum(b.numel() for b in buffers.values())
    assert bool(buffers) == (model == "cnn")
    assert all(n.endswith(("lora_A", "lora_B")) or n.startswith("head.") or n in buffers for n in artifact.tensors)


@pytest.mark.parametrize("model", ["vit", "cnn"])
def test_reconstruction_from_file_equals_peft_merge(model, tmp_path):
    """The complete state rebuilt on the task's base equals PEFT's merge of the scored model,
    BatchNorm statistics included; the rebuilt merged model scores like the adapted one."""
    task, outcome = fit(model, rank=2)
    path = tmp_path / "adapter.safetensors"
    write_artifact(path, outcome.artifact)
    rebuilt = outcome.reconstruct(read_artifact(path), torch.device("cpu"))
    reference = outcome.scored_state()
    assert set(rebuilt) == set(reference) == set(task.base_model(pretrained=True).state_dict())
    for name in reference:
        assert torch.equal(rebuilt[name], reference[name]), name
    merged = rebuild_model(task, LoRA(), path)
    scored, again = (task.evaluate(m, torch.device("cpu")) for m in (outcome.model, merged))
    assert again["nll"] == pytest.approx(scored["nll"], rel=1e-5)


def test_adapters_start_at_zero_delta():
    from peft import LoraConfig, get_peft_model

    base = Digits("smoke", 0, Digits.defaults("smoke"))
    base.prepare()
    model = get_peft_model(base.base_model(), LoraConfig(r=4, lora_alpha=8, target_modules=["qkv"]))
    for module in model.modules():
        if hasattr(module, "get_delta_weight") and hasattr(module, "lora_A") and "default" in module.lora_A:
            assert torch.count_nonzero(module.get_delta_weight("default")) == 0


@pytest.mark.parametrize("value", ["qkv", [], ["qkv", 3]])
def test_target_modules_are_auto_or_a_list_of_layer_names(value):
    """A bare string would reach PEFT as a regular expression (and the random-basis methods'
    ``targets`` as its letters): refused, with what to write instead."""
    with pytest.raises(UcdbenchError, match="expected .*'auto' or .*JSON list"):
        merge_config(LoRA, "smoke", {"target_modules": value}, "lora")
    assert merge_config(LoRA, "smoke", {"target_modules": ["qkv"]}, "lora")["target_modules"] == ["qkv"]

