"""A model's representation read at its classifier: what the module named ``head`` receives.

Apart from :mod:`ucdbench.contracts.capabilities`, which gives it as a task's default view of a
model, and from :mod:`ucdbench.contracts.state`, which picks a run's representation, so that
neither imports the other.
"""

from __future__ import annotations

import torch
from torch import nn


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
