"""Scoring a representation: features of a labelled split, k-nearest-neighbour accuracy and a
linear probe, implemented once for the ``knn`` and ``linear-probe`` evaluations and for the
methods that fit a classifier on frozen features.

kNN follows the papers' evaluation code (``eval_knn.py:faiss_knn`` of UCDvision/CMSF and of
UCDvision/simreg): features L2-normalised, the eval queries searched against the training split
(exact search; L2 on unit vectors ranks as cosine similarity does), the prediction the
majority label of the k nearest. The official code breaks a tie between labels at random
(``shuffle(votes)``); here it goes to the tied label whose nearest member ranks first, so the
figure is reproducible. ``vote="weighted"`` weighs each neighbour by exp(cos / T) instead
(T = 0.04, the ``TEMP`` constant the CMSF file declares but does not use).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ucdbench.api import (
    AugmentedViews, EvaluationContext, LabelledBatch, Task, encoder_of,
)

VOTES = ("majority", "weighted")


FEATURE_BATCH = 256


@torch.no_grad()
def labelled_features(encoder: nn.Module, task: AugmentedViews, split: str, device: torch.device,
                      batch_size: int = FEATURE_BATCH) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``encoder``'s features (N, D) of one labelled split of ``task`` (in eval mode, on CPU),
    with the images' clean labels (N,) and positions in the split (N,)."""
    encoder.eval()
    features, labels, index = [], [], []
    for batch in task.labelled_batches(split, batch_size):
        batch = LabelledBatch(*batch)
        features.append(encoder(batch.images.to(device)).float().cpu())
        labels.append(batch.label)
        index.append(batch.index)
    return torch.cat(features), torch.cat(labels), torch.cat(index)


def sample_images(task: AugmentedViews, count: int = 2) -> torch.Tensor:
    """The first ``count`` labelled training images: an input to size a network by."""
    return LabelledBatch(*next(iter(task.labelled_batches("train", count)))).images


QUERY_BLOCK = 1024
BANK_BLOCK = 32768
"""Default kNN block: 1024 queries × 32,768 bank rows, a 128 MiB float32 similarity block."""


def search_block_bytes(query_block: int, bank_block: int, k: int) -> int:
    """An upper bound of what one step of :func:`nearest_neighbours` holds, each query_block ×
    (bank_block + k): the float32 block and the one before it (held until the next is made), their
    concatenation with the running k best, the int32 running count of ties and ~6 bool masks —
    24 bytes an entry (measured: 0.73 GiB peak at the default 1024 × 32,768, declared 0.75)."""
    return 24 * query_block * (bank_block + k)


def nearest_neighbours(bank: torch.Tensor, queries: torch.Tensor, k: int, *, query_block: int = QUERY_BLOCK,
                       bank_block: int = BANK_BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` largest ``queries @ bank.T`` of each query (n_q, k) and their bank rows (n_q, k),
    ordered by similarity, ties to the lower bank row: exactly the order of a stable sort of the
    full matrix, whatever the blocks. The full n_q × n_bank matrix is never held (ImageNet's
    50,000 × 1,281,167 is 256 GB): queries go in blocks of ``query_block`` against the bank in
    blocks of ``bank_block``, each query keeping only its running k best. Computed where
    ``queries`` are; a bank block is moved there if it lives elsewhere."""
    k = min(k, len(bank))
    similarity = queries.new_empty(len(queries), k)
    index = torch.empty(len(queries), k, dtype=torch.long, device=queries.device)
    for q in range(0, len(queries), query_block):
        best = queries.new_empty(min(query_block, len(queries) - q), 0)
        rows = torch.empty(best.shape, dtype=torch.long, device=queries.device)
        for b in range(0, len(bank), bank_block):
            block = queries[q:q + query_block] @ bank[b:b + bank_block].to(queries.device).T
            # the running best come from earlier (lower) bank rows: candidates stay in bank-row order
            best, position = _k_best_first_on_ties(torch.cat([best, block], dim=1), k)
            held, from_block = rows.shape[1], position - rows.shape[1] + b
            rows = torch.where(position < held, rows.gather(1, position.clamp(max=held - 1)), from_block) \
                if held else from_block
        order = best.sort(dim=1, descending=True, stable=True).indices
        similarity[q:q + query_block] = best.gather(1, order)
        index[q:q + query_block] = rows.gather(1, order)
    return similarity, index


def _k_best_first_on_ties(candidates: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` largest of each row and their columns, in column order; among values tied with
    the k-th largest, the leftmost. (``topk`` alone may pick any of the tied ones.)"""
    k = min(k, candidates.shape[1])
    kth = candidates.topk(k, dim=1).values[:, -1:]
    above = candidates > kth
    tied = candidates == kth
    room = k - above.sum(dim=1, keepdim=True)
    chosen = above | (tied & (tied.cumsum(dim=1, dtype=torch.int32) <= room))
    columns = chosen.nonzero()[:, 1].view(len(candidates), k)
    return candidates.gather(1, columns), columns


def knn_predict(bank: torch.Tensor, bank_labels: torch.Tensor, queries: torch.Tensor, k: int,
                vote: str = "majority", temperature: float = 0.04, *, query_block: int = QUERY_BLOCK,
                bank_block: int = BANK_BLOCK) -> torch.Tensor:
    """The label each query gets from its ``k`` nearest bank entries (cosine similarity of
    L2-normalised features), computed where ``queries`` are, in blocks
    (:func:`nearest_neighbours`)."""
    if vote not in VOTES:
        raise ValueError(f"vote {vote!r}: choose one of {', '.join(VOTES)}")
    bank, queries = F.normalize(bank, dim=1), F.normalize(queries, dim=1)
    similarity, index = nearest_neighbours(bank, queries, k, query_block=query_block, bank_block=bank_block)
    k = similarity.shape[1]
    labels = bank_labels.to(queries.device)[index]
    classes = int(bank_labels.max()) + 1
    if vote == "weighted":
        weights = (similarity / temperature).exp()
    else:
        weights = torch.ones_like(similarity)
    scores = weights.new_zeros(len(queries), classes).scatter_add_(1, labels, weights)
    # ties: the label whose best-ranked member comes first (rank k - r scores above any later one)
    first_rank = labels.new_full((len(queries), classes), k)
    ranks = torch.arange(k, device=labels.device).expand_as(labels)
    first_rank = first_rank.scatter_reduce(1, labels, ranks, reduce="amin")
    best = scores.max(dim=1, keepdim=True).values
    tied = scores >= best - 1e-12 * best.abs()
    return torch.where(tied, -first_rank, torch.full_like(first_rank, -k - 1)).argmax(dim=1).cpu()


def knn_top1(bank: torch.Tensor, bank_labels: torch.Tensor, queries: torch.Tensor, labels: torch.Tensor, k: int,
             vote: str = "majority", temperature: float = 0.04, *, query_block: int = QUERY_BLOCK,
             bank_block: int = BANK_BLOCK) -> float:
    """Top-1 accuracy (%) of :func:`knn_predict`."""
    predicted = knn_predict(bank, bank_labels, queries, k, vote, temperature, query_block=query_block,
                            bank_block=bank_block)
    return 100.0 * float((predicted == labels).float().mean())


@dataclass(frozen=True)
class ProbeRecipe:
    """The official linear evaluation's optimisation (``self_supervised/eval_linear.py`` of
    UCDvision/CMSF, MSF's the same): SGD with momentum 0.9 and weight decay 1e-4 on every
    parameter, lr 0.01 divided by 10 at epochs 15 and 30 (``MultiStepLR``), 40 epochs of
    shuffled batches of 256, plain cross-entropy."""

    epochs: int = 40
    batch_size: int = 256
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: Sequence[int] = (15, 30, 40)


STANDARDISE_EPS = 1e-5
"""``FullBatchNorm``'s: x ↦ (x − mean) / √(var + 1e-5)."""


def _unit(features: torch.Tensor) -> torch.Tensor:
    return features / features.norm(2, dim=1, keepdim=True)


STATISTICS_ROWS = 65536
"""Rows of features normalised at once for the probe's statistics."""


def normalised_statistics(features: torch.Tensor, unit: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, 1/√(var + 1e-5)) over the rows of ``features``, L2-normalised first with ``unit``
    (the unbiased variance, as ``torch.var_mean``), accumulated in float64 a block of rows at a
    time, so no normalised copy of all features is made."""
    total = torch.zeros(features.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for start in range(0, len(features), STATISTICS_ROWS):
        block = features[start:start + STATISTICS_ROWS].float()
        block = (_unit(block) if unit else block).double()
        total += block.sum(dim=0)
        squares += block.pow(2).sum(dim=0)
    n = len(features)
    mean = total / n
    var = (squares - n * mean.pow(2)).clamp(min=0) / max(n - 1, 1)
    return mean.float(), (1.0 / torch.sqrt(var + STANDARDISE_EPS)).float()


class LinearProbe(nn.Module):
    """The official probe: L2-normalise (with ``unit``), standardise by the training features'
    statistics (``Normalize``, ``FullBatchNorm``), then a linear layer."""

    def __init__(self, mean: torch.Tensor, inv_std: torch.Tensor, num_classes: int, generator: torch.Generator,
                 unit: bool = True) -> None:
        super().__init__()
        self.unit = unit
        self.register_buffer("mean", mean)
        self.register_buffer("inv_std", inv_std)
        self.linear = nn.Linear(len(mean), num_classes)
        bound = 1.0 / len(mean) ** 0.5  # nn.Linear's own init, U(−1/√in, 1/√in), from the seeded generator
        with torch.no_grad():
            self.linear.weight.copy_(torch.rand(self.linear.weight.shape, generator=generator) * 2 * bound - bound)
            self.linear.bias.copy_(torch.rand(self.linear.bias.shape, generator=generator) * 2 * bound - bound)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(((_unit(features) if self.unit else features) - self.mean) * self.inv_std)

    def folded(self) -> nn.Linear:
        """The same map as one linear layer on raw features (the standardisation folded into the
        weights): only a probe without ``unit``, whose map is affine."""
        if self.unit:
            raise ValueError("an L2-normalising probe is not affine: it has no folded linear layer")
        layer = nn.Linear(self.linear.in_features, self.linear.out_features).to(self.mean.device)
        with torch.no_grad():
            layer.weight.copy_(self.linear.weight * self.inv_std)
            layer.bias.copy_(self.linear.bias - layer.weight @ self.mean)
        return layer.requires_grad_(False)


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int, device: torch.device,
                     seed: int, recipe: ProbeRecipe = ProbeRecipe(), unit: bool = True) -> LinearProbe:
    """:class:`LinearProbe` trained by mini-batch SGD (:class:`ProbeRecipe`) on frozen ``features``
    (N, D, on the host): each step moves one batch to ``device``, so memory there is a batch and
    the layer, whatever N (ImageNet's 1.28M × 2048 never is one tensor on the device, nor one
    matmul). The init and every epoch's order come from ``seed``. Unlike the official script,
    the features are computed once, without its training augmentation (RandomResizedCrop, flip)."""
    generator = torch.Generator().manual_seed(seed)
    mean, inv_std = normalised_statistics(features, unit)
    probe = LinearProbe(mean, inv_std, num_classes, generator, unit).to(device)
    optimizer = torch.optim.SGD(probe.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(recipe.milestones))
    with torch.enable_grad():
        for _ in range(recipe.epochs):
            order = torch.randperm(len(features), generator=generator)
            for start in range(0, len(order), recipe.batch_size):
                batch = order[start:start + recipe.batch_size]
                loss = F.cross_entropy(probe(features[batch].to(device)), labels[batch].to(device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            schedule.step()
    return probe.requires_grad_(False).eval()


@torch.no_grad()
def probe_top1(probe: nn.Module, features: torch.Tensor, labels: torch.Tensor, device: torch.device,
               batch_size: int = 4096) -> float:
    """Top-1 accuracy (%) of ``probe`` on ``features``, a batch at a time on ``device``."""
    correct = 0
    for start in range(0, len(features), batch_size):
        predicted = probe(features[start:start + batch_size].to(device)).argmax(dim=1).cpu()
        correct += int((predicted == labels[start:start + batch_size]).sum())
    return 100.0 * correct / len(features)


def with_linear_probe(task: AugmentedViews, model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` (in place, frozen, in eval mode) with its ``head`` a linear probe on its frozen
    features of the labelled training images: how a representation method's model is scored.
    The head is part of the method's outcome, so it is fitted on the labels the task gives
    methods (:meth:`~ucdbench.api.AugmentedViews.training_labels`: noisy under label noise, the
    labelled images only), never on the clean ones scoring uses — a head fitted on clean labels
    under label noise would be scored as if the method had been given them. The probe is the
    official recipe's (:func:`fit_linear_probe`, streamed, on ``device``) but without its
    L2-normalisation, which no linear head can hold: standardised features, the
    standardisation folded into the head, so the model stays the task's network."""
    model.eval()
    train_features, _, index = labelled_features(task.encoder(model), task, "train", device)
    labels = torch.as_tensor(task.training_labels())[index]
    given = labels >= 0
    probe = fit_linear_probe(train_features[given], labels[given], task.num_classes, device, task.seed, unit=False)
    head = probe.folded()
    with torch.no_grad():
        model.head.weight.copy_(head.weight)
        model.head.bias.copy_(head.bias)
    return model.requires_grad_(False)


def representation_skip_reason(ctx: EvaluationContext) -> str | None:
    """Why a representation evaluation does not apply to this run, or None."""
    if not isinstance(ctx.task, AugmentedViews):
        return "the task gives no labelled splits to score a representation on"
    if encoder_of(ctx.task, ctx.outcome.model, ctx.outcome.encoder) is None:
        return "the run has no representation: its outcome names no encoder and its model no classifier head"
    return None


def split_features(ctx: EvaluationContext, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and clean labels of one labelled split through the run's encoder: what the
    harness's evaluations score every row by, whatever labels its method trained with."""
    encoder = encoder_of(ctx.task, ctx.outcome.model.to(ctx.device), ctx.outcome.encoder)
    features, labels, _ = labelled_features(encoder.to(ctx.device), ctx.task, split, ctx.device)
    return features, labels
