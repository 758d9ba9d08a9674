"""SimReg's loss and head, pinned by hand."""

from __future__ import annotations

import torch
from torch import nn

from ucdbench_plugins.methods.simreg.method import prediction_head, regression_loss


def test_the_loss_is_2_minus_2_cos_on_unit_vectors():
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    b = torch.tensor([[3.0, 0.0], [0.0, 2.0], [-1.0, 0.0]])  # same direction, orthogonal, opposite
    assert torch.allclose(regression_loss(a[:1], b[:1]), torch.tensor(0.0))
    assert torch.allclose(regression_loss(a[1:2], b[1:2]), torch.tensor(2.0))
    assert torch.allclose(regression_loss(a[2:], b[2:]), torch.tensor(4.0))
    assert torch.allclose(regression_loss(a, b), torch.tensor(2.0))


def test_the_mlp_head_is_the_official_four_layers_without_bn_after_the_second():
    head = prediction_head("mlp", 8, 32)
    kinds = [type(layer) for layer in head]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    shapes = [(layer.in_features, layer.out_features) for layer in head if isinstance(layer, nn.Linear)]
    assert shapes == [(8, 16), (16, 8), (8, 16), (16, 32)]
    assert [type(layer) for layer in prediction_head("linear", 8, 32)] == [nn.BatchNorm1d, nn.Linear]
