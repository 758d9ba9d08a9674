"""The fit of a run, and its outcome rebuilt from the stored artifact.

A run's key holds the fingerprint of this module (with the method's, task's and hardware's
code): what is here decides the fitted model. How the outcome is then measured lives in
:mod:`ucdbench.running.measuring`, whose code keys measurements, not runs; so this module must not
import it, nor :mod:`ucdbench.running.runner`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ucdbench.contracts.interfaces import FitContext, Method, Outcome, Task
from ucdbench.running.seeding import seed_everything

if TYPE_CHECKING:
    import torch


def prepared_task(task_cls: type[Task], preset: str, seed: int, config: dict[str, Any]) -> Task:
    """The run's task, built after seeding every generator with the run's seed, and prepared."""
    seed_everything(seed)
    task = task_cls(preset, seed, config)
    task.prepare()
    return task


def fit(method: Method, task: Task, config: dict[str, Any], ctx: FitContext) -> Outcome:
    """What ``method`` hands over to be measured."""
    return method.fit(task, dict(config), ctx)


def rebuilt_outcome(method: Method, task: Task, artifact_path: Path | str | None, device: torch.device) -> Outcome:
    """The outcome ``fit`` returned, rebuilt from the artifact file (None: the method stored
    none) and the prepared task alone (:meth:`ucdbench.api.Method.rebuild_outcome`)."""
    from ucdbench.running.artifacts import read_artifact

    artifact = read_artifact(Path(artifact_path), device) if artifact_path else None
    return method.rebuild_outcome(task, artifact, device)
