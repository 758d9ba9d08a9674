"""Training curves: the training helper logs each epoch's mean loss, a method with a loop of its
own logs through ``ctx.curves``, and the run's record keeps both (a failed fit's too)."""

from __future__ import annotations

import statistics
import types

import pytest
import torch
from torch import nn

from ucdbench.api import Curves, EpochCurve, FitContext, Method, hookimpl, train
from ucdbench.discovery.registry import load_registry
from ucdbench.running.runner import RunSpec, execute, resolve
from ucdbench.running.store import RunStore


class _LineTask:
    """What ``train`` reads of a task: batches and a loss; it keeps every loss it returned."""

    def __init__(self, batches_per_epoch: int) -> None:
        self.batches_per_epoch = batches_per_epoch
        self.losses: list[float] = []

    def train_batches(self, batch_size: int, epochs: float):
        generator = torch.Generator().manual_seed(0)
        return [torch.randn(batch_size, 3, generator=generator) for _ in range(round(self.batches_per_epoch * epochs))]

    def loss(self, model: nn.Module, batch: torch.Tensor, device: torch.device) -> torch.Tensor:
        loss = (model(batch) - batch.sum(dim=1, keepdim=True)).pow(2).mean()
        self.losses.append(loss.item())
        return loss


def _fit(epochs: float, **kwargs) -> tuple[dict, list[float]]:
    task, ctx = _LineTask(batches_per_epoch=4), FitContext(torch.device("cpu"), 0, "smoke", lambda items, **_: items)
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    train(model, task, ctx, params=model.parameters(), epochs=epochs, lr=0.1, batch_size=8, **kwargs)
    return ctx.curves.as_dict(), task.losses


def test_the_training_helper_logs_each_epochs_mean_loss():
    curves, losses = _fit(epochs=3)
    assert [epoch for epoch, _ in curves["train_loss"]] == [1.0, 2.0, 3.0]
    expected = [statistics.fmean(losses[i:i + 4]) for i in (0, 4, 8)]
    assert [value for _, value in curves["train_loss"]] == pytest.approx(expected)
    assert curves["train_loss"][-1][1] < curves["train_loss"][0][1]  # it learns y = x1 + x2 + x3


def test_a_fractional_last_epoch_is_logged_at_its_fraction_under_the_curve_named():
    curves, losses = _fit(epochs=1.5, curve="warmup_loss")
    assert list(curves) == ["warmup_loss"]
    assert [epoch for epoch, _ in curves["warmup_loss"]] == [1.0, 1.5]
    assert curves["warmup_loss"][1][1] == pytest.approx(statistics.fmean(losses[4:]))


def test_curves_refuse_a_value_that_is_not_a_finite_number():
    curves = Curves()
    curves.log("accuracy", 1, 0.5)
    with pytest.raises(ValueError, match="'accuracy' at epoch 2: nan is not a finite number"):
        curves.log("accuracy", 2, float("nan"))
    assert curves.as_dict() == {"accuracy": [[1.0, 0.5]]}


class _OwnLoop(Method):
    """Logs two epochs of a curve from its own loop, then fails: the record keeps them."""

    name = "own-loop"

    def fit(self, task, config, ctx):
        for epoch, reward in ((1, 0.25), (2, 0.75)):
            ctx.curves.log("reward", epoch, reward)
        raise RuntimeError("gave up after two epochs")


def test_a_run_records_the_curves_its_fit_logged_even_when_the_fit_fails(tmp_path):
    @hookimpl
    def ucdbench_register_methods(register):
        register("own-loop", _OwnLoop)

    registry = load_registry(extra=[("own-loop", types.SimpleNamespace(ucdbench_register_methods=ucdbench_register_methods))])
    record = execute(resolve(registry, RunSpec("own-loop", "digits", "smoke", 0, "cpu", {}, threads=1)), "cpu",
                     RunStore(tmp_path))
    assert record["status"] == "failed" and "gave up" in record["error"]
    assert record["curves"] == {"reward": [[1.0, 0.25], [2.0, 0.75]]}
    assert RunStore(tmp_path).get(record["key"])["curves"] == record["curves"]


def test_a_method_on_the_training_helper_records_its_loss_curve(tmp_path):
    run = resolve(load_registry(), RunSpec("full-ft", "digits", "smoke", 0, "cpu", {}, threads=1))
    record = execute(run, "cpu", RunStore(tmp_path))
    points = record["curves"]["train_loss"]
    assert record["status"] == "ok" and points
    assert points[-1][0] == pytest.approx(run.method_config["epochs"])
    assert all(value > 0 for _, value in points)


def test_an_epoch_curve_logs_each_epochs_mean_and_a_fractional_last_epoch_at_its_fraction():
    curves = Curves()
    curve = EpochCurve(curves, "purity", steps=5, epochs=2.5)  # two steps an epoch, then half of one
    for step, value in enumerate([1.0, 3.0, 5.0, 9.0, 4.0]):
        curve.add(step, value)
    assert curves.as_dict() == {"purity": [[1.0, 2.0], [2.0, 7.0], [2.5, 4.0]]}


@pytest.mark.parametrize(("method", "task", "curves"), [
    ("msf", "digits", {"train_loss", "purity"}),
    ("backdoor", "digits", {"train_loss"}),
    ("slowformer", "digits", {"attack_loss"}),
    ("compgs", "scene", {"train_loss"}),
])
def test_a_method_with_a_loop_of_its_own_records_its_curves_per_epoch(tmp_path, method, task, curves):
    run = resolve(load_registry(), RunSpec(method, task, "smoke", 0, "cpu", {}, threads=1))
    record = execute(run, "cpu", RunStore(tmp_path))
    assert record["status"] == "ok", record["error"]
    assert set(record["curves"]) >= curves
    for name in curves:
        epochs = [epoch for epoch, _ in record["curves"][name]]
        assert epochs == sorted(epochs) and epochs[0] > 0, (name, epochs)
