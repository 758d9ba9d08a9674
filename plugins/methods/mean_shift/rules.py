"""The neighbour rules of BYOL and the CMSF variants (MSF is the base rule: no constraint).

Each follows the official module of UCDvision/CMSF named in its docstring.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ucdbench.api import ViewBatch
from ucdbench_plugins.shared.mean_shift.constraints import nearest_in_other_space, same_group
from ucdbench_plugins.shared.mean_shift.kmeans import kmeans
from ucdbench_plugins.shared.mean_shift.networks import mlp
from ucdbench_plugins.shared.mean_shift.training import NeighbourRule, TrainingState


class OwnTarget(NeighbourRule):
    """BYOL-asym: the only neighbour is the query's own target (k = 1), the MSF paper's
    reading of BYOL as mean shift with one neighbour, computed exactly (a duplicate bank
    entry at distance 0 cannot take its place)."""

    def observe(self, state: TrainingState, batch: ViewBatch, target: torch.Tensor, slots: torch.Tensor) -> None:
        self.slots = slots

    def allowed(self, state: TrainingState, batch: ViewBatch, target: torch.Tensor) -> torch.Tensor:
        allowed = torch.zeros(len(target), state.bank.size, dtype=torch.bool, device=target.device)
        allowed[torch.arange(len(target), device=target.device), self.slots] = True
        return allowed


class TwoQueues(NeighbourRule):
    """CMSF-2Q (``ConstrainedMeanShiftSelf`` in ``self_supervised/train_cmsf_self.py``): a pool
    keeps each image's last two target embeddings; the candidates are the k′ bank entries
    whose previous embedding is nearest to the query image's previous one, and the loss
    averages the constrained and unconstrained neighbours'."""

    averaged = True

    def __init__(self, k_prime: int) -> None:
        self.k_prime = k_prime

    def start(self, state: TrainingState) -> None:
        n, dim = state.pool.shape
        self.pool = F.normalize(torch.randn(2, n, dim, generator=state.generator), dim=2).to(state.device)
        self.slot = torch.zeros(n, dtype=torch.long, device=state.device)

    def observe(self, state: TrainingState, batch: ViewBatch, target: torch.Tensor, slots: torch.Tensor) -> None:
        self.pool[self.slot[batch.index], batch.index] = target
        self.slot[batch.index] = 1 - self.slot[batch.index]  # now points at the previous embedding

    def allowed(self, state: TrainingState, batch: ViewBatch, target: torch.Tensor) -> torch.Tensor:
        index, valid = state.bank.index.clamp(min=0), state.bank.index >= 0
        previous_query = self.pool[self.slot[batch.index], batch.index]
        previous_bank = self.pool[self.slot[index], index]
        return nearest_in_other_space(previous_query, previous_bank, valid, self.k_prime)


class SameCluster(NeighbourRule):
    """CMSF-KM (``ConstrainedMeanShiftKM`` in ``self_supervised/train_msf_km.py``): candidates
    share the query image's k-means cluster, re-clustered from every image's latest target
    embedding after each epoch (all in one cluster before the first: the first epoch is
    MSF); the loss averages the constrained and unconstrained neighbours'."""

    averaged = True

    def __init__(self, clusters: int) -> None:
        self.clusters = clusters

    def start(self, state: TrainingState) -> None:
        self.assignment = torch.zeros(len(state.pool), dtype=torch.long, device=state.device)

    def end_epoch(self, state: TrainingState) -> None:
        self.assignment = kmeans(state.pool, self.clusters, state.generator)

    def allowed(self, state: TrainingState, batch: ViewBatch, target: torch.Tensor) -> torch.Tensor:
        bank_groups = torch.where(state.bank.index >= 0, self.assignment[state.bank.index.clamp(min=0)],
                                  torch.full_like(state.bank.index, -1))
        return same_group(self.assignment[batch.index], bank_groups)


class SameLabel(NeighbourRule):
    """Supervised CMSF (``MeanShift.forward`` in ``supervised/train_cmsf_sup.py``): candidates
    carry the query's training label (noisy under label noise); the constrained loss alone."""

    def allowed(self, state: TrainingState, batch: ViewBatch, target: torch.Tensor) -> torch.Tensor:
        return same_group(batch.label, state.bank.labels)


class ConfidentPseudoLabel(NeighbourRule):
    """Semi-supervised CMSF (``PseudoCMSF`` in ``semi_supervised/pseudo_cmsf.py``): an MLP
    (proj → 2·proj → classes, ``mlp_xent=mlp``) on target embeddings gives pseudo-labels; a
    labelled image keeps its label, an unlabelled one takes its pseudo-label where the
    softmax confidence reaches ``confidence`` (0.85) and none otherwise. Candidates share the
    query's label; a query with none falls back to unconstrained neighbours; bank entries keep
    the label they entered with. The constrained loss alone. After each epoch the MLP trains
    afresh for ``pseudo_epochs`` epochs (SGD 0.01, momentum 0.9, weight decay 1e-4, batches of
    256) on the latest target embeddings of the labelled images, as ``train_pseudo_lbl`` does
    on its cache of them (the official code also runs a round mid-epoch; here it is once per
    epoch)."""

    def __init__(self, num_classes: int, confidence: float, pseudo_epochs: int) -> None:
        self.num_classes, self.confidence, self.pseudo_epochs = num_classes, confidence, pseudo_epochs

    def start(self, state: TrainingState) -> None:
        dim = state.pool.shape[1]
        self.head = mlp(dim, 2 * dim, self.num_classes).to(state.device)
        self.known = torch.full((len(state.pool),), -1, dtype=torch.long, device=state.device)
        self.pseudo_correct = self.pseudo_count = 0

    @torch.no_grad()
    def observe(self, state: TrainingState, batch: ViewBatch, target: torch.Tensor, slots: torch.Tensor) -> None:
        self.known[batch.index] = batch.label
        self.head.eval()
        probability, predicted = F.softmax(self.head(target), dim=1).max(dim=1)
        confident = (probability >= self.confidence) & (batch.label < 0)
        self.groups = torch.where(batch.label >= 0, batch.label,
                                  torch.where(confident, predicted, torch.full_like(predicted, -1)))
        state.bank.labels[slots] = self.groups
        self.pseudo_correct += int((predicted[confident] == batch.true_label[confident]).sum())
        self.pseudo_count += int(confident.sum())
        if self.pseudo_count:
            state.metrics["pseudo_label_accuracy"] = 100.0 * self.pseudo_correct / self.pseudo_count

    def allowed(self, state: TrainingState, batch: ViewBatch, target: torch.Tensor) -> torch.Tensor:
        return same_group(self.groups, state.bank.labels)

    def end_epoch(self, state: TrainingState) -> None:
        labelled = (self.known >= 0).nonzero().squeeze(1)
        if len(labelled) < 2:
            return
        inputs, labels = state.pool[labelled], self.known[labelled]
        optimizer = torch.optim.SGD(self.head.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        self.head.train()
        batch_size = min(256, len(labelled))
        with torch.enable_grad():
            for _ in range(self.pseudo_epochs):
                order = torch.randperm(len(labelled), generator=state.generator).to(state.device)
                for start in range(0, len(order) - batch_size + 1, batch_size):
                    chosen = order[start:start + batch_size]
                    loss = F.cross_entropy(self.head(inputs[chosen]), labels[chosen])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        self.pseudo_correct = self.pseudo_count = 0


class OtherModality(NeighbourRule):
    """Cross-modal CMSF: the candidates are the k′ bank entries whose images are nearest to the
    query's in a frozen encoder's embedding of *another modality* of the same instances
    (``embeddings``, one row per training image), as 2Q takes them from the previous
    embedding; the loss averages the constrained and unconstrained neighbours'."""

    averaged = True

    def __init__(self, embeddings: torch.Tensor, k_prime: int) -> None:
        self.embeddings = F.normalize(embeddings, dim=1)
        self.k_prime = k_prime

    def start(self, state: TrainingState) -> None:
        self.embeddings = self.embeddings.to(state.device)

    def allowed(self, state: TrainingState, batch: ViewBatch, target: torch.Tensor) -> torch.Tensor:
        index, valid = state.bank.index.clamp(min=0), state.bank.index >= 0
        return nearest_in_other_space(self.embeddings[batch.index], self.embeddings[index], valid, self.k_prime)
