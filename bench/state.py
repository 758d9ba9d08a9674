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

from ucdbench.interfaces import Artifact, Task


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


class HeadInput(nn.Module):
    """A model's representation: what its classifier module ``head`` receives.

    Runs the whole model and returns the head's input (captured by a forward hook), so it
    works for any model whose classifier is a module named ``head`` — a timm ViT, the image
    tasks' CNN and MLP, a PEFT-wrapped model (``….head``) — without knowing its forward.
    """

    def __init__(self, model: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.model = model
        self._head = [head]  # not a submodule: its parameters are the model's already

    @classmethod
    def of(cls, model: nn.Module) -> HeadInput | None:
        """The head input of ``model``, or None when no module is named ``head``."""
        heads = [module for name, module in model.named_modules() if name == "head" or name.endswith(".head")]
        return cls(model, heads[0]) if heads else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        captured: list[torch.Tensor] = []
        handle = self._head[0].register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0]))
        try:
            self.model(x)
        finally:
            handle.remove()
        if captured and captured[-1].shape[0] == x.shape[0]:
            return captured[-1].flatten(1)
        if sum(inputs.shape[0] for inputs in captured) == x.shape[0]:  # classified sample by sample (a
            return torch.cat([inputs.flatten(1) for inputs in captured])  # ViT that really drops tokens)
        raise RuntimeError(f"the head of {type(self.model).__name__} received batches of "
                           f"{[inputs.shape[0] for inputs in captured]} rows for {x.shape[0]} inputs: "
                           "no representation per input to read")


def encoder_of(task: Task, model: nn.Module, encoder: nn.Module | None = None) -> nn.Module | None:
    """The representation of a run: ``encoder`` where its outcome names one, else the task's
    view of ``model`` (:meth:`ucdbench.api.ImageClassification.encoder`), else None."""
    from ucdbench.capabilities import ImageClassification

    if encoder is not None:
        return encoder
    return task.encoder(model) if isinstance(task, ImageClassification) else None
