"""The example plugin's methods and hardware: through ucdbench.api, as any third-party plugin.

It declares its settings the 0.x way (``defaults()``), which keeps working (checked against
the defaults' types), and extends a built-in hardware back end by subclassing it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import torch

from ucdbench.api import (ImageClassification, Method, Outcome, ReportedFigure, dense_artifact, expand_dense,
                          held_base, state_with, train)
from ucdbench_plugins.hardware.cpu import CPU


class LinearProbe(Method):
    name = "linear-probe"
    reported = (ReportedFigure("digits", "top1", 99.0, "made-up figure for the test", "example plugin"),)

    @classmethod
    def defaults(cls, preset):
        return {"epochs": 2, "lr": 1e-2}

    requires = (ImageClassification,)

    def fit(self, task, config, ctx):
        model = task.base_model(pretrained=True)
        metrics = train(model, task, ctx, params=model.head.parameters(), epochs=config["epochs"],
                        lr=config["lr"], batch_size=64)
        head = {f"head.{k}": v for k, v in model.head.state_dict().items()}
        base_on = held_base(task)  # the pretrained body the user holds; the file holds the head
        return Outcome(model=model, artifact=dense_artifact(head),
                       reconstruct=lambda artifact, device: state_with(base_on(device), expand_dense(artifact, device)),
                       metrics=metrics)


class Diverge(Method):
    name = "diverge"

    def fit(self, task, config, ctx):
        model = task.base_model(pretrained=False)
        nan = torch.tensor(float("nan"))
        train(model, task, ctx, params=model.parameters(), epochs=1, lr=1e-3, batch_size=64,
              extra_loss=lambda m: nan)
        return Outcome(model=model)


class Crash(Method):
    """Its process is killed (SIGKILL, as the OOM killer would) on its first ``deaths`` attempts,
    counted in the file ``tally``; then it trains the head as :class:`LinearProbe`."""

    name = "crash"
    requires = (ImageClassification,)

    @classmethod
    def defaults(cls, preset):
        return {"deaths": 1, "tally": ""}

    def fit(self, task, config, ctx):
        tally = Path(config["tally"])
        attempts = int(tally.read_text()) if tally.exists() else 0
        tally.write_text(str(attempts + 1))
        if attempts < config["deaths"]:
            os.kill(os.getpid(), signal.SIGKILL)
        return LinearProbe().fit(task, {"epochs": 1, "lr": 1e-2}, ctx)


class Sleepy(Method):
    name = "sleepy"

    @classmethod
    def defaults(cls, preset):
        return {"seconds": 60.0}

    def fit(self, task, config, ctx):
        time.sleep(config["seconds"])
        return Outcome(model=task.base_model(pretrained=False))


class CPUPair(CPU):
    name = "cpu-pair"

    def devices(self):
        return ["cpu", "cpu"]
