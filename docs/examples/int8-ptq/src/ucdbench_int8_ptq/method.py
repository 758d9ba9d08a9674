"""int8 post-training quantisation: a trained fp32 model stored as int8 codes and fp32 scales.

Every weight with two or more dimensions (linear and convolution weights, a ViT's position
embedding) becomes int8 codes ``q`` and one fp32 scale per output channel (symmetric: the
channel's largest magnitude maps to 127); everything else — biases, norms, BatchNorm's running
statistics and counters — is stored as it is. The scored model is the dequantised one,
``q * scale``, so the harness measures the accuracy the int8 file really gives.

The model to quantise is another run's (the ``source`` setting, by default the task's full
fine-tune): the runner fits or reuses it first and hands it over rebuilt from its artifact.
"""

from __future__ import annotations

import torch
from torch import nn

from ucdbench.api import (
    Artifact, Config, FitContext, ImageClassification, Method, Outcome, RunReference, Task, initial_model,
    model_with_state, persistent_buffers, state_with, stored_dense,
)

CODE, SCALE = "q.", "scale."
"""Artifact names: ``q.<parameter>`` (int8 codes) and ``scale.<parameter>`` (fp32, one per row)."""


def quantise(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 codes of ``weight`` and one fp32 scale per output channel (dimension 0)."""
    rows = weight.detach().float().flatten(1)
    scale = rows.abs().amax(dim=1).clamp_min(1e-12) / 127
    codes = torch.round(rows / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return codes.view_as(weight), scale


def dequantise(codes: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The fp32 weight ``codes`` stand for: each row times its scale."""
    return (codes.float().flatten(1) * scale[:, None]).view(codes.shape)


def dequantised_state(skeleton: nn.Module, artifact: Artifact, device: torch.device) -> dict[str, torch.Tensor]:
    """The complete state the artifact stores, on ``device``: dequantised weights and the dense
    tensors, named as ``skeleton``'s state (a tied weight under each of its names)."""
    values = stored_dense(artifact, device)
    for name, codes in artifact.tensors.items():
        if name.startswith(CODE):
            parameter = name[len(CODE):]
            values[parameter] = dequantise(codes.to(device), artifact.tensors[SCALE + parameter].to(device))
    return state_with(skeleton, values)


class Int8PostTrainingQuantisation(Method):
    name = "int8-ptq"
    requires = (ImageClassification,)
    settings = {
        "source": RunReference("full-ft", "the trained fp32 run to quantise: a method with its settings "
                                          "('full-ft:epochs=5') or a recorded run's key"),
    }

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        (source,) = ctx.references["source"]
        trained = source.model
        tensors: dict[str, torch.Tensor] = {}
        dense: list[str] = []
        for name, parameter in trained.named_parameters():  # a tied parameter once, under its first name
            if parameter.dim() >= 2:
                tensors[CODE + name], tensors[SCALE + name] = quantise(parameter)
            else:
                tensors[name] = parameter.detach().clone()
                dense.append(name)
        for name, buffer in persistent_buffers(trained).items():  # BatchNorm statistics, counters
            tensors[name] = buffer.detach().clone()
            dense.append(name)
        artifact = Artifact(tensors, metadata={"scheme": "int8, symmetric, per output channel",
                                               "source": source.key}, dense=tuple(dense))
        outcome = self.rebuild_outcome(task, artifact, ctx.device)
        outcome.metrics = {"quantised_tensors": float(sum(name.startswith(CODE) for name in tensors))}
        return outcome

    def rebuild_model(self, task: Task, artifact: Artifact, device: torch.device) -> nn.Module:
        skeleton = initial_model(task, task.seed).to(device)  # the architecture; its values are all replaced
        return model_with_state(skeleton, dequantised_state(skeleton, artifact, device))

    def rebuild_outcome(self, task: Task, artifact: Artifact | None, device: torch.device) -> Outcome:
        """What ``fit`` returns is this outcome, so the model measured after the fit and the one
        rebuilt from the file later are the same by construction."""
        skeleton = initial_model(task, task.seed)  # built once: reconstruct is timed, the architecture is not

        def reconstruct(stored: Artifact, on: torch.device) -> dict[str, torch.Tensor]:
            return dequantised_state(skeleton, stored, on)

        return Outcome(model=self.rebuild_model(task, artifact, device), artifact=artifact, reconstruct=reconstruct)
