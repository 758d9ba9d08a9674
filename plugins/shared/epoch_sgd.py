"""The optimisation of the UCDvision self-supervised and distillation codes (CMSF, SimReg):
SGD with momentum 0.9 and weight decay, the learning rate set at the start of each epoch on a
cosine (``adjust_learning_rate`` with ``--cos`` in their ``util.py``/``tools.py``), one step
per batch that stops the run on a non-finite loss."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from ucdbench.api import DivergedError


def cosine_lr(base_lr: float, epoch: int, epochs: int) -> float:
    """The official per-epoch cosine: base · ½ (1 + cos(π · epoch / epochs)), epoch from 0."""
    return base_lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


def sgd(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float) -> torch.optim.SGD:
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)


def start_epoch(optimizer: torch.optim.Optimizer, base_lr: float, epoch: int, epochs: float) -> None:
    """Set the learning rate of ``epoch`` (from 0) of ``epochs``."""
    for group in optimizer.param_groups:
        group["lr"] = cosine_lr(base_lr, epoch, math.ceil(epochs))


def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, index: int) -> float:
    """One optimiser step on ``loss``; a non-finite loss raises :class:`DivergedError`."""
    if not torch.isfinite(loss):
        lr = optimizer.param_groups[0]["lr"]
        raise DivergedError(f"loss became {loss.item()} at step {index} (lr={lr})")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()
