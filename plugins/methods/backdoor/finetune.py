"""The official fine-tuning of the poisoned model (``finetune_transformer.py`` of
UCDvision/backdoor_transformer): SGD with momentum 0.9 and no weight decay (line 539,
``optim.SGD(params_to_update, lr=lr, momentum=momentum)``), the learning rate set at the start
of each epoch to lr · 0.1^⌊epoch / 10⌋ (``adjust_learning_rate``, lines 385-390; constant over
the configured 10 epochs), cross-entropy on the clean training set with the poisons added
(line 510, ``ConcatDataset``). The harness's own loop (``ucdbench.api.train``: AdamW, cosine
decay) is the other choice of the ``optimiser`` setting."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ucdbench.api import EpochCurve, FitContext
from ucdbench_plugins.methods.backdoor.poisons import PoisonedTraining
from ucdbench_plugins.shared.epoch_sgd import sgd, step


def step_decay_lr(base_lr: float, epoch: int) -> float:
    """The official schedule: ``lr * (0.1 ** (epoch // 10))``, epoch from 0."""
    return base_lr * 0.1 ** (epoch // 10)


def official_finetune(model: nn.Module, training: PoisonedTraining, ctx: FitContext, *,
                      params: Iterable[nn.Parameter], epochs: float, lr: float, batch_size: int,
                      weight_decay: float) -> dict[str, float]:
    """Fine-tune ``params`` of ``model`` as the official script does; the same figures as
    ``ucdbench.api.train`` returns (the mean loss of the last 10% of steps, the step count)."""
    model.to(ctx.device).train()
    batches = list(training.train_batches(batch_size, epochs))
    optimizer = sgd([p for p in params if p.requires_grad], lr, weight_decay)
    losses: list[float] = []
    curve = EpochCurve(ctx.curves, "train_loss", len(batches), epochs)
    for index, batch in enumerate(ctx.progress(batches, desc="poisoned fine-tune (SGD)", total=len(batches))):
        epoch = int(index * epochs // len(batches))
        for group in optimizer.param_groups:
            group["lr"] = step_decay_lr(lr, epoch)
        losses.append(step(optimizer, training.loss(model, batch, ctx.device), index))
        curve.add(index, losses[-1])
    tail = losses[-max(1, len(losses) // 10):]
    model.eval()
    return {"train_loss": sum(tail) / len(tail), "train_steps": float(len(losses))}
