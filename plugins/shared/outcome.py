"""One place where a built-in method builds its Outcome, for ``fit`` and ``rebuild_outcome`` alike.

The harness fits a run once and measures an evaluation added or changed later on the outcome
rebuilt from the artifact (:meth:`ucdbench.api.Method.rebuild_outcome`), so both must hand
evaluations the same thing: the model, the input transform, the extras, the encoder and the very
``reconstruct`` function that reconstruction times. A method here builds its Outcome in one
function of the task, the scored model and the artifact (:meth:`ModelOutcome.outcome`): ``fit``
passes the model it trained and the artifact it made of it, ``rebuild_outcome`` the model rebuilt
from the file (:meth:`ModelOutcome.scored_model`) and the artifact read back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn

from ucdbench.api import (
    Artifact, Method, Outcome, Task, UcdbenchError, dense_artifact, expand_dense, initial_model, model_with_state,
)


class ModelOutcome(Method, ABC):
    """A method whose Outcome is a function of the task, the scored model and the artifact."""

    @abstractmethod
    def outcome(self, task: Task, model: nn.Module, artifact: Artifact,
                metrics: dict[str, float] | None = None) -> Outcome:
        """The Outcome of ``model`` (the one fit trained, or the one rebuilt from ``artifact``)."""

    def scored_model(self, task: Task, artifact: Artifact, device: torch.device) -> nn.Module:
        """The model fit's outcome scores, rebuilt from ``artifact`` and ``task``: by default
        :meth:`rebuild_model`'s (a method whose scored model is not what a user rebuilds, such as a
        PEFT-wrapped one, overrides this)."""
        return self.rebuild_model(task, artifact, device)

    def rebuild_outcome(self, task: Task, artifact: Artifact | None, device: torch.device) -> Outcome:
        if artifact is None:
            raise UcdbenchError(f"{self.name}: the run stored no artifact, so there is no outcome to rebuild; "
                                "run it again")
        return self.outcome(task, self.scored_model(task, artifact, device), artifact)


class DenseModel(ModelOutcome):
    """A method that stores its scored model as it is: the artifact is the model's complete state
    (every parameter and buffer, :func:`ucdbench.api.dense_artifact`), its metadata what building
    the model around that state needs; reconstruction expands it."""

    def stored_outcome(self, task: Task, model: nn.Module, metrics: dict[str, float],
                       metadata: dict[str, Any] | None = None) -> Outcome:
        """``fit``'s Outcome: ``model`` stored whole, with ``metadata``."""
        return self.outcome(task, model, dense_artifact(model.state_dict(), metadata), metrics)

    def outcome(self, task: Task, model: nn.Module, artifact: Artifact,
                metrics: dict[str, float] | None = None) -> Outcome:
        return Outcome(model=model, artifact=artifact, reconstruct=expand_dense, metrics=dict(metrics or {}),
                       extras=self.extras(model))

    def extras(self, model: nn.Module) -> dict[str, Any]:
        """What evaluations read of this method's outcome besides the model (none by default)."""
        return {}

    def rebuild_model(self, task: Task, artifact: Artifact, device: torch.device) -> nn.Module:
        """The task's architecture holding the stored state (every parameter and buffer)."""
        return model_with_state(initial_model(task, task.seed).to(device), expand_dense(artifact, device))
