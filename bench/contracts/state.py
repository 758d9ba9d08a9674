"""The complete state of a model: what an artifact must let reconstruction rebuild.

A scored model is more than its parameters: BatchNorm's running statistics and counters are
buffers that training updates and the forward pass uses. Its *complete state* is its
``state_dict()`` — every parameter (a tied one under each of its names) and every persistent
buffer. Each piece must either be regenerable from what the task gives (the architecture, a
seed's initialisation, the pretrained base the user holds) or be stored in the artifact; the
``reconstruction`` evaluation compares the rebuilt complete state with the scored model's,
tensor by tensor, so a method that forgot something fails there.

The helpers here are the one implementation every method uses to store buffers, to rebuild a
complete state around what it regenerates, and to turn a rebuilt state into a model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

import torch
from torch import nn

from ucdbench.contracts.capabilities import ImageClassification
from ucdbench.contracts.interfaces import Artifact, Task


def persistent_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """The non-parameter entries of ``model.state_dict()`` (BatchNorm's running mean and
    variance and its batch counter): state the model uses that an artifact must store."""
    params = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    return {name: tensor for name, tensor in model.state_dict().items() if name not in params}


def stored_dense(artifact: Artifact, device: torch.device | str) -> dict[str, torch.Tensor]:
    """The tensors an artifact stores as they are (a head, buffers), on ``device``."""
    return {name: artifact.tensors[name].to(device) for name in artifact.dense}


def state_with(model: nn.Module, values: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``model``'s complete state with ``values`` in place of its entries.

    A value for a tied parameter (GPT-2's output layer shares the token embedding) replaces it
    under every name it has, as loading it into the model would. Names the model does not
    have are an error: they mean the values were made for another architecture.
    """
    first_name: dict[int, str] = {}
    canonical: dict[str, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        canonical[name] = first_name.setdefault(id(param), name)
    state = model.state_dict()
    unknown = sorted(set(values) - set(state))
    if unknown:
        raise ValueError(f"{type(model).__name__} has no entries {unknown[:5]}: "
                         "the values are for another architecture")
    return {name: values.get(canonical.get(name, name), tensor) for name, tensor in state.items()}


def model_with_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """``model`` holding exactly ``state`` (every entry, strictly), frozen and in eval mode."""
    model.load_state_dict(state, strict=True)
    return model.requires_grad_(False).eval()


def initial_model(task: Task, seed: int) -> nn.Module:
    """The task's randomly initialised model as drawn from ``seed`` (θ0 of training from
    scratch), whatever seed ``task`` itself was built with, leaving the global RNGs as they were.

    Relies on the contract of :meth:`Task.base_model`: ``pretrained=False`` is a function of
    the task's seed and configuration.
    """
    twin = copy.copy(task)
    twin.seed = seed
    with torch.random.fork_rng():
        return twin.base_model(pretrained=False)


def pretrained_base(task: Task) -> nn.Module:
    """The task's pretrained base (what an adapter is applied to), from the task — never from
    the model a method trained — leaving the global RNGs as they were."""
    with torch.random.fork_rng():
        return task.base_model(pretrained=True)


def held_base(task: Task) -> Callable[[torch.device], nn.Module]:
    """device → the task's pretrained base there, built once per device.

    An adapter's artifact is applied to a base the user already holds, so rebuilding weights
    from the artifact does not time loading it.
    """
    held: dict[str, nn.Module] = {}

    def on(device: torch.device) -> nn.Module:
        if str(device) not in held:
            held[str(device)] = pretrained_base(task).to(device).requires_grad_(False)
        return held[str(device)]

    return on


def encoder_of(task: Task, model: nn.Module, encoder: nn.Module | None = None) -> nn.Module | None:
    """The representation of a run: ``encoder`` where its outcome names one, else the task's
    view of ``model`` (:meth:`ucdbench.api.ImageClassification.encoder`), else None."""
    if encoder is not None:
        return encoder
    return task.encoder(model) if isinstance(task, ImageClassification) else None
