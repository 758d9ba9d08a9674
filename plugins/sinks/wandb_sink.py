"""The ``wandb`` sink: each run a Weights & Biases run in a project named after the experiment
file, offline unless ``WANDB_MODE`` says otherwise: no account and no network needed, and
``wandb sync TARGET/wandb/offline-run-*`` uploads later. The configuration and the tags are the
run's config, curves are logged against an ``epoch`` axis, figures are its summary, and the
artifact file is a W&B artifact of the run."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path

from ucdbench.api import Sink, SinkRun


class WandbSink(Sink):
    name = "wandb"
    target_help = "the folder W&B writes its runs under, in wandb/ (default: the current folder)"

    def __init__(self) -> None:
        self.folder, self.project, self.runs = Path("."), "ucdbench", {}

    def unavailable_reason(self) -> str | None:
        return None if find_spec("wandb") else "Weights & Biases is not installed; pip install 'ucdbench[wandb]'"

    def open(self, target: str | None, experiment: str) -> None:
        self.folder, self.project = Path(target or "."), experiment
        self.folder.mkdir(parents=True, exist_ok=True)

    def start(self, run: SinkRun) -> None:
        import wandb

        self.runs[run.key] = wandb.init(
            project=self.project, name=run.name, dir=str(self.folder), mode=os.environ.get("WANDB_MODE", "offline"),
            config={**run.params, **{f"tag.{k}": v for k, v in run.tags.items()}}, tags=[run.status],
            reinit="create_new")

    def curve(self, run: SinkRun, name: str, points: Sequence[tuple[float, float]]) -> None:
        live = self.runs[run.key]
        live.define_metric(name, step_metric="epoch")
        for epoch, value in points:
            live.log({"epoch": epoch, name: value})

    def finish(self, run: SinkRun, figures: Mapping[str, float], artifact: Path | None) -> None:
        import wandb

        live = self.runs.pop(run.key)
        live.summary.update(dict(figures))
        if artifact is not None:
            stored = wandb.Artifact(f"run-{run.key[:10]}", type="model")
            stored.add_file(str(artifact))
            live.log_artifact(stored)
        live.finish()

    def fail(self, run: SinkRun, error: str) -> None:
        live = self.runs.pop(run.key)
        live.summary["error"] = error
        live.finish(exit_code=1)
