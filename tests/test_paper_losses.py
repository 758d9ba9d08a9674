"""The papers' losses on hand examples: the mean-shift loss and its neighbours' purity
(``plugins/shared/mean_shift/training.py``), SimReg's regression loss and its prediction heads
(``plugins/methods/simreg/method.py``). Each figure is worked out by hand in the comments; small
and fast enough for mutation testing restricted to these functions (docs/development.md)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from ucdbench_plugins.methods.simreg.method import prediction_head, regression_loss
from ucdbench_plugins.shared.mean_shift.training import mean_shift_loss, purity


def bank(embeddings=None, true_labels=None):
    """The two fields of a MemoryBank the functions read."""
    return SimpleNamespace(embeddings=torch.tensor(embeddings or [[0.0]]), true_labels=torch.tensor(true_labels or [0]))


def test_the_mean_shift_loss_is_the_mean_of_two_minus_twice_each_neighbour_s_dot_product():
    query = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    memory = bank(embeddings=[[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    neighbours = torch.tensor([[0, 2], [1, 2]])
    # dot products: q0·e0 = 1, q0·e2 = 0.6, q1·e1 = 1, q1·e2 = 0.8 → 2 − 2·dot: 0, 0.8, 0, 0.4 → mean 0.3
    assert float(mean_shift_loss(query, memory, neighbours)) == pytest.approx(0.3)
    # three neighbours per query, one query: 2 − 2·(1, 0, 0.6) = (0, 2, 0.8) → mean 14/15
    assert float(mean_shift_loss(query[:1], memory, torch.tensor([[0, 1, 2]]))) == pytest.approx(2.8 / 3)


def test_purity_is_the_share_of_neighbours_of_the_query_s_clean_label_unwritten_entries_never():
    memory = bank(true_labels=[0, 1, -1, 1])  # entry 2 never written
    neighbours = torch.tensor([[1, 2, 3], [0, 0, 2]])
    # query of label 1: entries 1 (1, same), 2 (−1, not), 3 (1, same) → 2; label 0: 0, 0 same, 2 not → 2 → 4 of 6
    assert purity(torch.tensor([1, 0]), memory, neighbours) == pytest.approx(4 / 6)
    # a label no entry holds: no neighbour counts
    assert purity(torch.tensor([3]), memory, torch.tensor([[0, 1, 2, 3]])) == 0.0


def test_the_regression_loss_is_two_minus_twice_the_cosine_averaged_over_the_batch():
    prediction = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    target = torch.tensor([[4.0, 3.0], [0.0, 2.0]])
    # cos = 24/25 = 0.96 → 2 − 1.92 = 0.08; cos = 0 → 2; mean 1.04 (norms 5, 5, 1, 2 divided out)
    assert float(regression_loss(prediction, target)) == pytest.approx(1.04)
    # the same direction at any scale costs nothing; the opposite costs 4
    assert float(regression_loss(torch.tensor([[2.0, 0.0]]), torch.tensor([[7.0, 0.0]]))) == pytest.approx(0.0, abs=1e-6)
    assert float(regression_loss(torch.tensor([[0.0, -1.0]]), torch.tensor([[0.0, 3.0]]))) == pytest.approx(4.0)


def layers(head: nn.Sequential) -> list[tuple[str, list[tuple[int, ...]]]]:
    return [(type(m).__name__, [tuple(p.shape) for p in m.parameters()]) for m in head]


def test_simreg_s_head_is_its_four_layer_mlp_and_the_baseline_s_a_normalised_linear_layer():
    dim, out = 3, 5
    assert layers(prediction_head("mlp", dim, out)) == [
        ("Linear", [(6, 3), (6,)]), ("BatchNorm1d", [(6,), (6,)]), ("ReLU", []), ("Linear", [(3, 6), (3,)]),
        ("Linear", [(6, 3), (6,)]), ("BatchNorm1d", [(6,), (6,)]), ("ReLU", []), ("Linear", [(5, 6), (5,)]),
    ]
    assert layers(prediction_head("linear", dim, out)) == [("BatchNorm1d", [(3,), (3,)]), ("Linear", [(5, 3), (5,)])]
