"""The mean-shift training loop BYOL, MSF and every CMSF variant run; they differ only in the
rule that says which bank entries a query's neighbours may come from (:class:`NeighbourRule`).

One step, as the official ``forward`` and ``train`` (UCDvision/CMSF,
``self_supervised/train_cmsf_self.py``): the online network predicts the strong view (query);
the target network, first moved by the EMA update, embeds the weak view (target); the targets
enter the bank; the target's k nearest bank entries (within the rule's allowed ones) are found
by the target's distances; the loss is the mean over them of 2 − 2⟨query, entry⟩ — for the
self-supervised constraints averaged with the same loss over the unconstrained k nearest. SGD
with momentum 0.9, the learning rate on a cosine over epochs (:mod:`ucdbench_plugins.shared.epoch_sgd`). The official ShuffleBN spreads the target batch
over GPUs; on one device a batch's statistics do not depend on its order, so it is left out.

What is scored: the task's architecture whose backbone was trained here, its classifier
``head`` a linear probe on the frozen features of the labelled training images, fitted on the
labels the task gives methods (noisy under label noise; never the clean ones scoring uses) —
so ``accuracy`` is a linear evaluation; the ``knn`` and ``linear-probe`` evaluations read the
backbone's features (what the head receives). The projection and prediction heads are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from ucdbench.api import AugmentedViews, Config, EpochCurve, FitContext, ImageClassification, Task, ViewBatch
from ucdbench_plugins.shared import epoch_sgd
from ucdbench_plugins.shared.mean_shift.bank import MemoryBank
from ucdbench_plugins.shared.mean_shift.constraints import distances, nearest
from ucdbench_plugins.shared.mean_shift.networks import MomentumPair, ema_update, feature_dim
from ucdbench_plugins.shared.representation import sample_images, with_linear_probe


@dataclass
class TrainingState:
    """What a rule may read: the networks, the bank, the latest target embedding of every
    training image (``pool``; random until the image is first seen), the run's generator."""

    pair: MomentumPair
    bank: MemoryBank
    pool: torch.Tensor
    generator: torch.Generator
    device: torch.device
    task: Task
    config: Config
    epoch: int = 0
    metrics: dict[str, float] = field(default_factory=dict)


class NeighbourRule:
    """Unconstrained mean shift (MSF); subclasses narrow the allowed entries."""

    averaged = False
    """Whether the loss averages the constrained and the unconstrained neighbours' (the
    self-supervised CMSF constraints) instead of using the constrained ones alone."""

    def start(self, state: TrainingState) -> None:
        """Before the first step."""

    def observe(self, state: TrainingState, batch: ViewBatch, target: torch.Tensor, slots: torch.Tensor) -> None:
        """After a batch's targets entered the bank at ``slots``."""

    def allowed(self, state: TrainingState, batch: ViewBatch, target: torch.Tensor) -> torch.Tensor | None:
        """(B, M) allowed bank entries per query, or None: any entry (no constraint)."""
        return None

    def end_epoch(self, state: TrainingState) -> None:
        """After each epoch (a re-clustering, a pseudo-labeller's training round)."""


def purity(true_labels: torch.Tensor, bank: MemoryBank, neighbours: torch.Tensor) -> float:
    """Share of the neighbours whose clean label is the query's (entries never written count
    as different, as in the official purity)."""
    return float((bank.true_labels[neighbours] == true_labels[:, None]).float().mean())


def mean_shift_loss(query: torch.Tensor, bank: MemoryBank, neighbours: torch.Tensor) -> torch.Tensor:
    """Mean over queries and their neighbours of 2 − 2⟨query, neighbour⟩."""
    return (2 - 2 * torch.einsum("bd,bkd->bk", query, bank.embeddings[neighbours])).mean()


def fit_mean_shift(task: Task, config: Config, ctx: FitContext, rule: NeighbourRule, *, k: int,
                   report_purity: bool = True) -> tuple[torch.nn.Module, dict[str, float]]:
    """Train the task's architecture from scratch by mean shift under ``rule``, fit its linear
    head on frozen features, and return it with the training's figures."""
    assert isinstance(task, AugmentedViews) and isinstance(task, ImageClassification)
    device = ctx.device
    generator = torch.Generator().manual_seed(ctx.seed)
    torch.manual_seed(ctx.seed)
    model = task.base_model(pretrained=False).to(device)
    encoder = task.encoder(model)
    dim = feature_dim(encoder, sample_images(task).to(device))
    pair = MomentumPair(encoder, dim).to(device)
    head = set(task.head_parameters(model))
    params = [p for name, p in pair.named_parameters() if not name.startswith("target.")
              and name.removeprefix("online.encoder.model.") not in head]
    optimizer = epoch_sgd.sgd(params, config["lr"], config["weight_decay"])
    bank = MemoryBank(config["bank_size"], pair.projection_dim, generator, device)
    pool = torch.nn.functional.normalize(torch.randn(task.num_train, pair.projection_dim, generator=generator), dim=1)
    state = TrainingState(pair, bank, pool.to(device), generator, device, task, config)
    rule.start(state)

    epochs, batch_size = config["epochs"], config["batch_size"]
    steps_per_epoch = max(1, round(task.num_train / batch_size))
    batches = task.view_batches(batch_size, epochs)
    total = max(1, round(epochs * task.num_train / batch_size))
    pair.train()
    loss_curve = EpochCurve(ctx.curves, "train_loss", total, epochs)
    purity_curve = EpochCurve(ctx.curves, "purity", total, epochs)
    losses: list[float] = []
    purities: list[float] = []
    unconstrained_purities: list[float] = []
    for step, batch in enumerate(ctx.progress(batches, desc=f"train {type(rule).__name__}", total=total)):
        epoch = step // steps_per_epoch
        if step % steps_per_epoch == 0:
            if step:
                state.epoch = epoch - 1
                rule.end_epoch(state)
                pair.train()
            losses, purities, unconstrained_purities = [], [], []
            epoch_sgd.start_epoch(optimizer, config["lr"], epoch, epochs)
        batch = ViewBatch(*(part.to(device) for part in batch))
        query = pair.query(batch.strong)
        with torch.no_grad():
            ema_update(pair.online, pair.target, config["momentum"])
            target = pair.target_embedding(batch.weak)
            slots = bank.enqueue(target, batch.label, batch.true_label, batch.index)
            state.pool[batch.index] = target
            rule.observe(state, batch, target, slots)
            target_dist = distances(target, bank.embeddings)
            unconstrained = nearest(target_dist, k)
            allowed = rule.allowed(state, batch, target)
            constrained = nearest(target_dist, k, allowed) if allowed is not None else None
        if constrained is None:
            loss = mean_shift_loss(query, bank, unconstrained)
        elif rule.averaged:
            loss = (mean_shift_loss(query, bank, constrained) + mean_shift_loss(query, bank, unconstrained)) / 2
        else:
            loss = mean_shift_loss(query, bank, constrained)
        losses.append(epoch_sgd.step(optimizer, loss, step))
        purities.append(purity(batch.true_label, bank, constrained if constrained is not None else unconstrained))
        loss_curve.add(step, losses[-1])
        purity_curve.add(step, 100 * purities[-1])
        if constrained is not None:
            unconstrained_purities.append(purity(batch.true_label, bank, unconstrained))

    metrics = {"train_loss": _mean(losses), "train_steps": float(total), **state.metrics}
    if report_purity:
        metrics["purity"] = 100 * _mean(purities)
        if unconstrained_purities:
            metrics["purity_unconstrained"] = 100 * _mean(unconstrained_purities)
    return with_linear_probe(task, model, device), metrics


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / max(1, len(values))
