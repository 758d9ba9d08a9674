"""The digits and mnist tasks: held-out-class pretraining, fixed splits, models."""

from __future__ import annotations

import pytest
import torch

from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench_plugins.tasks.images.datasets import MNIST, Digits
from ucdbench_plugins.tasks.images.task import parse_classes


def make(cls=Digits, seed=0, **overrides):
    task = cls("smoke", seed, {**cls.defaults("smoke"), **overrides})
    task.prepare()
    return task


def test_class_specs():
    assert parse_classes("5-9", 10) == [5, 6, 7, 8, 9]
    assert parse_classes("0,3-4", 10) == [0, 3, 4]
    assert parse_classes([2, 1], 10) == [1, 2]
    assert parse_classes("none", 10) == []
    with pytest.raises(UcdbenchError, match="outside 0..9"):
        parse_classes("8-12", 10)


def test_splits_are_disjoint_fixed_and_seed_independent():
    a, b = make(seed=0), make(seed=1)
    assert torch.equal(a.eval_x, b.eval_x) and torch.equal(a.train_y, b.train_y)
    train = {tuple(x.flatten().tolist()) for x in a.train_x}
    assert not train & {tuple(x.flatten().tolist()) for x in a.eval_x}
    assert a.num_classes == 5 and set(a.train_y.tolist()) == set(range(5))
    pretrain = {tuple(x.flatten().tolist()) for x in a.pretrain_x}
    assert not pretrain & train, "pretraining images must come from the held-out classes only"


def test_pretrained_base_is_cached_and_transfers():
    task = make()
    first, second = task.base_model(pretrained=True), task.base_model(pretrained=True)
    for (name, p), q in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(p, q), name
    scratch = task.base_model(pretrained=False)
    # the body differs from a random init; the head is fresh and seeded like the scratch model
    assert not torch.equal(first.patch_embed.proj.weight, scratch.patch_embed.proj.weight)
    assert torch.equal(first.head.weight, scratch.head.weight)


def test_pretraining_on_overlapping_classes_is_refused():
    task = make(classes="0-9", pretrain_classes="0-4")
    with pytest.raises(UcdbenchError, match="disjoint"):
        task.base_model(pretrained=True)
    assert task.base_model(pretrained=False).head.out_features == 10


@pytest.mark.parametrize("model", ["vit", "cnn", "mlp"])
def test_every_model_runs_and_scores(model):
    task = make(MNIST if model == "mlp" else Digits, model=model)
    net = task.base_model(pretrained=False)
    logits = net(task.sample_inputs(5, torch.device("cpu")))
    assert logits.shape == (5, task.num_classes)
    figures = task.evaluate(net, torch.device("cpu"))
    assert 0 <= figures["top1"] <= 100 and figures["nll"] > 0


def test_train_batches_cover_the_requested_epochs():
    task = make()
    batches = list(task.train_batches(32, 2.0))
    assert sum(len(y) for _, y in batches) == pytest.approx(2 * len(task.train_y), abs=32)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(UcdbenchError, match="choose one of vit, cnn, mlp"):
        make(model="resnet")
