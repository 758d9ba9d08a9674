"""The one training loop methods share when they train on the task's own loss.

Methods stay free to write their own loop where the paper's objective differs (an attack,
distillation); this one covers fine-tuning, adapters and reparameterised training. Either way a
run's curves are logged per epoch the same way (:class:`EpochCurve`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable

import torch
from torch import nn

from ucdbench.contracts.interfaces import Curves, DivergedError, FitContext, Task


def train(
    model: nn.Module,
    task: Task,
    ctx: FitContext,
    *,
    params: Iterable[nn.Parameter],
    epochs: float,
    lr: float,
    batch_size: int,
    weight_decay: float = 0.0,
    extra_loss: Callable[[nn.Module], torch.Tensor] | None = None,
    desc: str = "train",
    curve: str = "train_loss",
) -> dict[str, float]:
    """AdamW with a cosine schedule over ``epochs`` passes of the task's training batches.

    Raises :class:`DivergedError` as soon as the loss is not finite, so a diverged run is
    recorded as failed rather than scored. Logs the mean loss of each epoch to ``ctx.curves``
    under ``curve`` (a fractional last epoch at its fraction; a fit that trains twice names its
    second curve). Returns the mean loss of the last 10% of steps.
    """
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: no parameter requires grad")
    model.to(ctx.device).train()
    batches = list(task.train_batches(batch_size, epochs))
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / max(1, len(batches))))
    )
    losses: list[float] = []
    epoch_losses = EpochCurve(ctx.curves, curve, len(batches), epochs)
    for step, batch in enumerate(ctx.progress(batches, desc=desc, total=len(batches))):
        loss = task.loss(model, batch, ctx.device)
        if extra_loss is not None:
            loss = loss + extra_loss(model)
        if not torch.isfinite(loss):
            raise DivergedError(f"loss became {loss.item()} at step {step} of {len(batches)} (lr={lr})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        epoch_losses.add(step, losses[-1])
    tail = losses[-max(1, len(losses) // 10):]
    model.eval()
    return {"train_loss": sum(tail) / len(tail), "train_steps": float(len(losses))}


class EpochCurve:
    """The mean of a per-step value (a loss, a purity) over each epoch, logged to a run's
    curves as the epoch ends, a fractional last epoch at its fraction: what :func:`train` logs of
    its loss, for a method with a loop of its own to log the same way.

    ``steps`` is how many steps the loop takes in all and ``epochs`` how many passes over the
    data they make (3DGS: steps ÷ views). Call :meth:`add` once per step, in order."""

    def __init__(self, curves: Curves, name: str, steps: int, epochs: float) -> None:
        self.curves, self.name = curves, name
        self.ends = _epoch_ends(steps, epochs)
        self.values: list[float] = []

    def add(self, step: int, value: float) -> None:
        """Step ``step``'s value (steps count from 0); at an epoch's last step, the epoch's mean."""
        self.values.append(value)
        if step in self.ends:
            self.curves.log(self.name, self.ends[step], statistics.fmean(self.values))
            self.values = []


def _epoch_ends(steps: int, epochs: float) -> dict[int, float]:
    """Step index → the epoch (count of passes, rounded to 1e-6) that ends with it: the steps
    where a whole pass over the data is done, and the last step (a fractional last epoch)."""
    ends = {}
    per_epoch = steps / epochs if epochs > 0 else float(steps)
    for epoch in range(1, math.floor(epochs) + 1):
        ends[min(steps, round(epoch * per_epoch)) - 1] = float(epoch)
    if steps:
        ends[steps - 1] = round(steps / per_epoch, 6)
    return {step: epoch for step, epoch in ends.items() if step >= 0}
