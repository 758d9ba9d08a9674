"""The complete state of a model (ucdbench.contracts.state): what is a buffer, tied names, a seed's init."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ucdbench.contracts.state import initial_model, model_with_state, persistent_buffers, state_with
from ucdbench_plugins.tasks.images.datasets import Digits


class Tied(nn.Module):
    """An embedding whose output layer shares its weight, as GPT-2's does, and a BatchNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(3, 2)
        self.norm = nn.BatchNorm1d(2)
        self.out = nn.Linear(2, 3, bias=False)
        self.out.weight = self.embed.weight


def test_persistent_buffers_are_the_state_that_is_not_a_parameter():
    model = Tied()
    assert set(persistent_buffers(model)) == {"norm.running_mean", "norm.running_var", "norm.num_batches_tracked"}
    assert set(model.state_dict()) == {"embed.weight", "out.weight", "norm.weight", "norm.bias",
                                       *persistent_buffers(model)}


def test_state_with_gives_a_tied_value_under_every_name_and_rejects_unknown_names():
    model = Tied()
    weight = torch.arange(6.0).view(3, 2)
    state = state_with(model, {"embed.weight": weight, "norm.running_var": torch.tensor([4.0, 9.0])})
    assert torch.equal(state["embed.weight"], weight) and torch.equal(state["out.weight"], weight)
    assert torch.equal(state["norm.running_var"], torch.tensor([4.0, 9.0]))
    assert torch.equal(state["norm.running_mean"], torch.zeros(2))  # the model's own where nothing is given
    with pytest.raises(ValueError, match="another architecture"):
        state_with(model, {"lm_head.weight": weight})


def test_model_with_state_is_strict_and_frozen():
    state = state_with(Tied(), {"norm.num_batches_tracked": torch.tensor(7)})
    model = model_with_state(Tied(), state)
    assert int(model.norm.num_batches_tracked) == 7 and not model.training
    assert not any(p.requires_grad for p in model.parameters())
    with pytest.raises(RuntimeError, match="Missing"):
        model_with_state(Tied(), {k: v for k, v in state.items() if k != "norm.running_mean"})


def test_initial_model_is_the_random_init_of_the_seed_whatever_the_task_was_built_with():
    config = {**Digits.defaults("smoke"), "model": "mlp"}
    task, other = Digits("smoke", 3, config), Digits("smoke", 4, config)
    for t in (task, other):
        t.prepare()
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    drawn = initial_model(other, 3)
    assert torch.equal(torch.rand(3), expected_next)  # the global RNG is left as it was
    reference = task.base_model(pretrained=False).state_dict()
    assert all(torch.equal(drawn.state_dict()[name], value) for name, value in reference.items())
    assert not torch.equal(initial_model(task, 4).state_dict()["head.weight"], reference["head.weight"])
    assert other.seed == 4  # the task itself is untouched
