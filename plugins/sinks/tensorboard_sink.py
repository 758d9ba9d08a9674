"""The ``tensorboard`` sink: TensorBoard event files, one folder per run under
``TARGET/EXPERIMENT/``: curves as scalars at their epochs' steps, figures as scalars, and the
configuration with the figures as hparams (TensorBoard's HParams tab compares runs by them)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from ucdbench.api import Sink, SinkRun


class TensorBoardSink(Sink):
    name = "tensorboard"
    target_help = "the folder the event files go under, one folder per experiment, then per run (default: ./tensorboard)"

    def __init__(self) -> None:
        self.root, self.writers = Path("tensorboard"), {}

    def unavailable_reason(self) -> str | None:
        return None if find_spec("tensorboard") else "TensorBoard is not installed; pip install 'ucdbench[tensorboard]'"

    def open(self, target: str | None, experiment: str) -> None:
        self.root = Path(target or "tensorboard") / experiment
        self.root.mkdir(parents=True, exist_ok=True)

    def start(self, run: SinkRun) -> None:
        from torch.utils.tensorboard import SummaryWriter

        folder = self.root / re.sub(r"[^A-Za-z0-9_.-]+", "-", run.name).strip("-")
        writer = self.writers[run.key] = SummaryWriter(log_dir=str(folder))
        table = "\n".join(f"| {k} | {v} |" for k, v in {**run.params, **run.tags}.items())
        writer.add_text("configuration", "| setting | value |\n|---|---|\n" + table)

    def curve(self, run: SinkRun, name: str, points: Sequence[tuple[float, float]]) -> None:
        for epoch, value in points:
            self.writers[run.key].add_scalar(f"curves/{name}", value, self.step_of(epoch))

    def finish(self, run: SinkRun, figures: Mapping[str, float], artifact: Path | None) -> None:
        writer = self.writers.pop(run.key)
        for name, value in figures.items():
            writer.add_scalar(f"figures/{name}", value, 0)
        if artifact is not None:
            writer.add_text("artifact", str(artifact))
        writer.add_hparams({k: _hparam(v) for k, v in run.params.items()}, {f"hparam/{k}": v for k, v in figures.items()},
                           run_name=".")
        writer.close()

    def fail(self, run: SinkRun, error: str) -> None:
        writer = self.writers.pop(run.key)
        writer.add_text("error", error)
        writer.close()


def _hparam(value: Any) -> bool | int | float | str:
    """TensorBoard's hparams take numbers, strings and booleans; anything else as its text."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)
