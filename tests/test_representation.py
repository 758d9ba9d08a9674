"""The representation evaluations' definitions: kNN against a brute-force count, the linear
probe, and the head-input encoder."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tensor_probe import LargestOutput
from ucdbench.contracts.representation import HeadInput
from ucdbench.contracts.state import encoder_of
from ucdbench_plugins.shared import representation
from ucdbench_plugins.shared.representation import (
    VOTES, ProbeRecipe, fit_linear_probe, knn_predict, knn_top1, nearest_neighbours, probe_top1,
)


def _brute_force_majority(bank, bank_labels, queries, k):
    """Rank by cosine one query at a time; the most frequent label, ties to the label seen first."""
    predictions = []
    for query in queries:
        cosines = [float(query @ b / (query.norm() * b.norm())) for b in bank]
        order = sorted(range(len(bank)), key=lambda i: -cosines[i])[:k]
        labels = [int(bank_labels[i]) for i in order]
        counts = Counter(labels)
        best = max(counts.values())
        predictions.append(next(label for label in labels if counts[label] == best))
    return torch.tensor(predictions)


@pytest.mark.parametrize("k", [1, 3, 20])
def test_knn_majority_matches_a_brute_force_count(k):
    generator = torch.Generator().manual_seed(0)
    bank, queries = torch.randn(40, 5, generator=generator), torch.randn(15, 5, generator=generator)
    bank_labels = torch.randint(0, 4, (40,), generator=generator)
    assert torch.equal(knn_predict(bank, bank_labels, queries, k), _brute_force_majority(bank, bank_labels, queries, k))


def test_knn_on_a_hand_example():
    bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.2, 0.8]])
    labels = torch.tensor([0, 0, 1, 1, 1])
    query = torch.tensor([[1.0, 0.05]])
    assert knn_predict(bank, labels, query, 1).tolist() == [0]
    assert knn_predict(bank, labels, query, 5).tolist() == [1]           # three 1s outvote two 0s
    assert knn_predict(bank, labels, query, 5, "weighted", 0.04).tolist() == [0]  # but the near 0s weigh more
    assert knn_top1(bank, labels, query, torch.tensor([0]), 1) == 100.0


def test_a_tie_goes_to_the_label_ranked_first():
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert knn_predict(bank, torch.tensor([3, 1]), torch.tensor([[0.6, 0.4]]), 2).tolist() == [3]
    assert knn_predict(bank, torch.tensor([3, 1]), torch.tensor([[0.4, 0.6]]), 2).tolist() == [1]


def test_the_head_probe_folds_into_one_linear_layer_on_raw_features():
    """with_linear_probe's probe (no L2-normalisation): the folded layer is the same map on raw
    features, at any scale and offset, and separates separable classes."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(60, 3, generator=generator) * 0.1
    y = torch.arange(60) % 3
    x[torch.arange(60), y] += 5.0
    x = x * 100 + 7
    probe = fit_linear_probe(x, y, 3, torch.device("cpu"), seed=0, unit=False)
    folded = probe.folded()
    assert torch.allclose(folded(x), probe(x), atol=1e-4)
    assert torch.equal(folded(x).argmax(dim=1), y)
    with pytest.raises(ValueError, match="not affine"):
        fit_linear_probe(x, y, 3, torch.device("cpu"), seed=0, recipe=ProbeRecipe(epochs=1)).folded()


def test_the_head_input_is_what_the_classifier_receives():
    model = nn.Sequential()
    model.features = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    model.head = nn.Linear(3, 2)
    model.forward = lambda x: model.head(model.features(x))
    x = torch.randn(5, 2, 2)
    assert torch.equal(HeadInput.of(model)(x), model.features(x))
    assert HeadInput.of(nn.Linear(2, 2)) is None
    # a model that classifies sample by sample (an adaptive ViT really dropping tokens): one row each
    model.forward = lambda x: torch.cat([model.head(model.features(sample[None])) for sample in x])
    assert torch.allclose(HeadInput.of(model)(x), model.features(x))
    model.forward = lambda x: model.head(model.features(x[:2]))
    with pytest.raises(RuntimeError, match=r"batches of \[2\] rows for 5 inputs"):
        HeadInput.of(model)(x)


def test_an_outcome_encoder_comes_before_the_tasks_view():
    own = nn.Identity()
    assert encoder_of(object(), nn.Linear(2, 2), own) is own
    assert encoder_of(object(), nn.Linear(2, 2)) is None  # not an image task: no view of its own


def _tied_data(seed):
    """Unit vectors whose dot products are exact (signed one-hots and (±½, ±½, ±½, ±½)), every
    bank row duplicated: many ties, and no rounding for any kernel or block shape to differ in."""
    generator = torch.Generator().manual_seed(seed)
    units = torch.cat([torch.eye(4), -torch.eye(4), torch.cartesian_prod(*[torch.tensor([-0.5, 0.5])] * 4)])
    rows = units[torch.randint(0, len(units), (60,), generator=generator)]
    bank = torch.cat([rows, rows[torch.randperm(60, generator=generator)]])
    queries = units[torch.randint(0, len(units), (37,), generator=generator)] * 3.0
    return bank, torch.randint(0, 5, (len(bank),), generator=generator), F.normalize(queries, dim=1) * 3.0


@pytest.mark.parametrize("query_block,bank_block", [(1, 1), (7, 13), (5, 50), (37, 119), (64, 1000)])
@pytest.mark.parametrize("k", [1, 6, 20])
def test_blocked_search_equals_a_stable_sort_of_the_full_matrix(query_block, bank_block, k):
    """Exact dot products, so the merge alone decides the order. (With arbitrary features a
    block's matrix product may round a similarity differently from the full one's in the last
    bit, which no merge can undo.)"""
    bank, bank_labels, queries = _tied_data(k)
    full = queries @ bank.T
    expected = full.sort(dim=1, descending=True, stable=True)
    assert (full.unsqueeze(2) == full.unsqueeze(1)).sum() > full.numel()  # ties exist
    similarity, index = nearest_neighbours(bank, queries, k, query_block=query_block, bank_block=bank_block)
    assert torch.equal(index, expected.indices[:, :k])
    assert torch.equal(similarity, expected.values[:, :k])
    for vote in VOTES:
        blocked = knn_predict(bank, bank_labels, queries, k, vote, query_block=query_block, bank_block=bank_block)
        whole = knn_predict(bank, bank_labels, queries, k, vote, query_block=len(queries), bank_block=len(bank))
        assert torch.equal(blocked, whole)
    if vote == "majority":
        assert torch.equal(whole, _brute_force_majority(bank, bank_labels, queries, k))


def test_the_blocked_search_never_holds_more_than_a_block():
    generator = torch.Generator().manual_seed(3)
    bank, queries = torch.randn(4000, 4, generator=generator), torch.randn(300, 4, generator=generator)
    labels = torch.randint(0, 10, (4000,), generator=generator)
    k, query_block, bank_block = 20, 16, 100
    with LargestOutput() as blocked:
        knn_predict(bank, labels, queries, k, query_block=query_block, bank_block=bank_block)
    with LargestOutput() as whole:
        knn_predict(bank, labels, queries, k, query_block=len(queries), bank_block=len(bank))
    # the largest intermediate: the normalised bank itself, or one block with the running k best
    assert blocked.largest_elements <= max(bank.numel(), query_block * (bank_block + k))
    assert whole.largest_elements >= len(queries) * len(bank)  # the unblocked path does hold the full matrix


def _clusters(seed: int, n: int, classes: int = 10, dim: int = 32, spread: float = 1.5):
    """Gaussian classes around random centres, offset from the origin (the probe L2-normalises)."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(99))
    labels = torch.randint(0, classes, (n,), generator=generator)
    return centres[labels] + spread * torch.randn(n, dim, generator=generator) + 3.0, labels


def test_the_sgd_probe_separates_separable_features():
    x, y = _clusters(0, 2000, spread=0.1)
    probe = fit_linear_probe(x, y, 10, torch.device("cpu"), seed=0)
    assert probe_top1(probe, *_clusters(1, 500, spread=0.1), torch.device("cpu")) > 99.0


def _lbfgs_optimum(x: torch.Tensor, y: torch.Tensor, classes: int):
    """The reference: the same probe (L2-normalised, standardised, weight decay 1e-4) minimised
    full-batch by L-BFGS from zero, the convex problem's optimum on a small case."""
    unit = x / x.norm(dim=1, keepdim=True)
    z = (unit - unit.mean(dim=0)) / unit.std(dim=0)
    layer = nn.Linear(x.shape[1], classes)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    optimizer = torch.optim.LBFGS(layer.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(layer(z), y) + 1e-4 / 2 * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return lambda q: layer(((q / q.norm(dim=1, keepdim=True)) - unit.mean(dim=0)) / unit.std(dim=0))


def test_the_sgd_probe_agrees_with_the_lbfgs_optimum_on_a_small_case():
    x, y = _clusters(0, 1500)
    queries, labels = _clusters(1, 1000)
    sgd = probe_top1(fit_linear_probe(x, y, 10, torch.device("cpu"), seed=0), queries, labels, torch.device("cpu"))
    with torch.enable_grad():
        reference = _lbfgs_optimum(x, y, 10)
    lbfgs = 100.0 * float((reference(queries).argmax(dim=1) == labels).float().mean())
    assert 60.0 < lbfgs < 99.0  # neither trivial nor saturated: the comparison says something
    assert abs(sgd - lbfgs) < 3.0


def test_the_sgd_probe_streams_its_features_in_batches(monkeypatch):
    monkeypatch.setattr(representation, "STATISTICS_ROWS", 256)
    x, y = _clusters(0, 3000, dim=16)
    with LargestOutput() as probe:
        fitted = fit_linear_probe(x, y, 10, torch.device("cpu"), seed=0, recipe=ProbeRecipe(epochs=2, batch_size=64))
        probe_top1(fitted, x, y, torch.device("cpu"), batch_size=128)
    # a batch, a block of the statistics or the epoch's order: never all 3000 × 16 features in one operation
    assert probe.largest_elements <= max(256 * 16, 128 * 16, len(x)) < x.numel()


def test_the_sgd_probe_is_deterministic_under_its_seed():
    x, y = _clusters(0, 600)
    recipe = ProbeRecipe(epochs=3)
    first, again, other = (fit_linear_probe(x, y, 10, torch.device("cpu"), seed=s, recipe=recipe) for s in (0, 0, 1))
    assert torch.equal(first.linear.weight, again.linear.weight)
    assert not torch.equal(first.linear.weight, other.linear.weight)
