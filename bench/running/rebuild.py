"""Rebuild a run's scored model from its artifact file and its task alone.

What a user holding only the file does: build the task from the configuration the run
recorded (its architecture and data), read the artifact, and let the method rebuild the model
(:meth:`Method.rebuild_model`) — no training, nothing from the process that ran it. Scoring the
result on the task's eval split gives the run's figures again, to the last digit, when the
artifact is complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ucdbench.running.artifacts import read_artifact
from ucdbench.contracts.interfaces import ArtifactKind, Method, Task, UcdbenchError
from ucdbench.discovery.registry import load_registry


def rebuild_model(task: Task, method: Method, artifact_path: Path | str,
                  device: torch.device | str = "cpu") -> nn.Module:
    """``method``'s scored model rebuilt from the file at ``artifact_path`` and ``task``."""
    device = torch.device(device)
    return method.rebuild_model(task, read_artifact(Path(artifact_path), device), device)


def rebuild_run(record: dict[str, Any], device: torch.device | str = "cpu") -> tuple[Task, nn.Module]:
    """A run's task (prepared, from the record's task configuration) and its scored model,
    rebuilt from the run's artifact file. The method's configuration is not used: whatever
    the model needs must be in the artifact."""
    task, method = _prepared(record)
    return task, rebuild_model(task, method, record["artifact"], device)


def _prepared(record: dict[str, Any]) -> tuple[Task, Method]:
    """A run's task, prepared from the record's task configuration, and its method."""
    if not record.get("artifact"):
        raise UcdbenchError(f"run {record.get('key', '?')} stored no artifact, so there is nothing to rebuild")
    registry = load_registry()
    task = registry.get("task", record["task"]["name"]).load()(record["preset"], record["seed"], record["task"]["config"])
    task.prepare()
    return task, registry.get("method", record["method"]["name"]).load()()


def rebuilt_scores(record: dict[str, Any], device: torch.device | str = "cpu") -> dict[str, Any]:
    """The task's metrics of a run's outcome rebuilt from its artifact file (:meth:`Method.rebuild_outcome`),
    as the accuracy evaluation names them: on transformed inputs (``NAME_transformed``) where the
    outcome has an input transform, and on clean ones unless the artifact is that transform alone."""
    task, method = _prepared(record)
    device = torch.device(device)
    outcome = method.rebuild_outcome(task, read_artifact(Path(record["artifact"]), device), device)
    scores: dict[str, Any] = {}
    if outcome.kind is not ArtifactKind.INPUT_TRANSFORM:
        scores.update(task.evaluate(outcome.model, device))
    if outcome.input_transform is not None:
        transformed = task.evaluate(outcome.model, device, outcome.input_transform)
        scores.update({f"{name}_transformed": value for name, value in transformed.items()})
    return scores
