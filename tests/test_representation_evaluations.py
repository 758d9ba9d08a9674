"""The ``knn`` and ``linear-probe`` evaluations, end to end through their ``measure``, on an
encoder whose answer is known: its features are built from the labels (class means on the unit
sphere, small noise), with label noise in the bank and some queries placed in another class's
cluster, so each figure is a count done by hand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from ucdbench.api import AugmentedViews, EvaluationContext, LabelledBatch, Outcome
from ucdbench_plugins.evaluations.knn import KNN
from ucdbench_plugins.evaluations.linear_probe import LinearProbe

CLASSES = 4
BANK_PER_CLASS = 30
QUERIES_PER_CLASS = 5
NOISE = 0.05
NUISANCE = 100.0
"""Scale of an input column the encoder drops: fed to the evaluations unencoded, it would
decide every neighbour."""


class KnownFeatures(AugmentedViews):
    """A task whose labelled splits are given feature rows (plus one nuisance column)."""

    seed = 0  # a task's seed: the linear probe's init and batch order follow it

    def __init__(self, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        generator = torch.Generator().manual_seed(1)
        self.splits = {name: (torch.cat([x, NUISANCE * torch.randn(len(x), 1, generator=generator)], dim=1), y)
                       for name, (x, y) in splits.items()}

    @property
    def num_train(self) -> int:
        return len(self.splits["train"][1])

    def view_batches(self, batch_size: int, epochs: float) -> Iterator:
        raise NotImplementedError("the representation evaluations read only the labelled splits")

    def training_labels(self) -> torch.Tensor:
        return self.splits["train"][1]

    def labelled_batches(self, split: str, batch_size: int) -> Iterator[LabelledBatch]:
        images, labels = self.splits[split]
        for start in range(0, len(labels), batch_size):
            index = torch.arange(start, min(start + batch_size, len(labels)))
            yield LabelledBatch(index, images[index], labels[index])


class DropNuisance(nn.Module):
    """The run's encoder: the feature columns, without the nuisance one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :-1]


def _known_task(mislabelled: int) -> tuple[KnownFeatures, dict[str, float]]:
    """The task, and each figure as counted by hand.

    Bank: per class, 30 points near its mean, and a copy of each of the class's 5 regular
    queries, ``mislabelled`` of them labelled as the next class (label noise). Queries: the 20
    regular ones, and per class one displaced query (labelled as its class, its features in the
    next class's cluster).

    - 1-NN: each regular query's nearest entry is its own copy (cosine 1): right where the copy
      has the right label, wrong where it is mislabelled; a displaced query's nearest is in the
      next class's cluster: wrong.
    - 20-NN: the 20 nearest of a regular query are in its own cluster (35 entries, at most
      ``mislabelled`` of them noisy, a minority): the majority is right; a displaced query's
      majority is the next class.
    - linear probe (without label noise: a noisy copy sits where its query is, and a linear
      boundary may bend to it): the clusters are linearly separable, so right for the regular
      queries, wrong for the displaced ones.
    """
    generator = torch.Generator().manual_seed(0)
    means = torch.eye(CLASSES)

    def near(c: int, count: int) -> torch.Tensor:
        return means[c] + NOISE * torch.randn(count, CLASSES, generator=generator)

    bank, bank_labels, queries, labels = [], [], [], []
    for c in range(CLASSES):
        regular = near(c, QUERIES_PER_CLASS)
        bank += [near(c, BANK_PER_CLASS), regular.clone()]
        bank_labels += [torch.full((BANK_PER_CLASS,), c),
                        torch.tensor([(c + 1) % CLASSES] * mislabelled + [c] * (QUERIES_PER_CLASS - mislabelled))]
        queries += [regular, near((c + 1) % CLASSES, 1)]
        labels += [torch.full((QUERIES_PER_CLASS + 1,), c)]
    task = KnownFeatures({"train": (torch.cat(bank), torch.cat(bank_labels)),
                          "eval": (torch.cat(queries), torch.cat(labels))})
    total = CLASSES * (QUERIES_PER_CLASS + 1)
    regular_right = CLASSES * (QUERIES_PER_CLASS - mislabelled)
    expected = {"nn1_top1": 100.0 * regular_right / total,
                "nn20_top1": 100.0 * CLASSES * QUERIES_PER_CLASS / total,
                "probe_top1": 100.0 * CLASSES * QUERIES_PER_CLASS / total}
    return task, expected


def _measure(evaluation: type, task: KnownFeatures, **config) -> dict:
    outcome = Outcome(model=nn.Identity(), encoder=DropNuisance())
    ctx = EvaluationContext(task=task, outcome=outcome, hardware=None, device=torch.device("cpu"), preset="smoke",
                            config={**evaluation.defaults("smoke"), **config})
    assert evaluation().skip_reason(ctx) is None
    return evaluation().measure(ctx)


def test_the_hand_counts_are_those_of_the_setup():
    task, expected = _known_task(mislabelled=2)
    assert expected == {"nn1_top1": 50.0, "nn20_top1": pytest.approx(250 / 3), "probe_top1": pytest.approx(250 / 3)}
    assert len(task.splits["train"][1]) == CLASSES * (BANK_PER_CLASS + QUERIES_PER_CLASS)


def test_knn_scores_1_nn_and_20_nn_of_the_runs_encoder_as_counted_by_hand():
    task, expected = _known_task(mislabelled=2)
    figures = _measure(KNN, task)
    assert figures["nn1_top1"] == pytest.approx(expected["nn1_top1"])  # 12 of 24: the noisy copies decide
    assert figures["nn20_top1"] == pytest.approx(expected["nn20_top1"])  # 20 of 24: the majority outvotes them
    assert figures["feature_dim"] == CLASSES  # the encoder's features, not the inputs
    assert figures["bank_size"] == CLASSES * (BANK_PER_CLASS + QUERIES_PER_CLASS)


def test_the_linear_probe_scores_the_runs_encoder_as_counted_by_hand():
    task, expected = _known_task(mislabelled=0)
    assert expected["probe_top1"] == pytest.approx(250 / 3)  # 20 of 24: the displaced queries are wrong
    assert _measure(LinearProbe, task)["probe_top1"] == pytest.approx(expected["probe_top1"])


def test_knn_with_a_weighted_vote_uses_the_temperature_it_is_given():
    """The query's 20 nearest: 3 of its class at cosine 1, 17 of another at cosine 0.8. The majority
    is wrong; the weighted vote, exp(cosine / temperature), is right at 0.04 (3·e^25 > 17·e^20) and
    wrong at 1.0 (3·e < 17·e^0.8)."""
    bank = torch.cat([torch.tensor([[1.0, 0.0]]).repeat(3, 1), torch.tensor([[0.8, 0.6]]).repeat(17, 1)])
    bank_labels = torch.tensor([0] * 3 + [1] * 17)
    task = KnownFeatures({"train": (bank, bank_labels), "eval": (torch.tensor([[1.0, 0.0]]), torch.tensor([0]))})
    assert _measure(KNN, task)["nn20_top1"] == 0.0  # the majority vote
    assert _measure(KNN, task, vote="weighted", temperature=0.04)["nn20_top1"] == 100.0
    assert _measure(KNN, task, vote="weighted", temperature=1.0)["nn20_top1"] == 0.0
    assert _measure(KNN, task, vote="weighted", temperature=1.0)["nn1_top1"] == 100.0


def test_knn_declares_the_search_blocks_of_its_20_nearest_under_the_setting_that_bounds_them():
    from ucdbench.api import MemoryNeed

    (need,) = KNN().memory_needs(None, {**KNN.defaults("smoke"), "query_block": 4, "bank_block": 8})
    assert need == MemoryNeed(24 * 4 * (8 + 20), "similarity blocks of 4 queries × 8 bank rows with their running "
                                                 "best and masks", "bank_block")


class _FakeBank:
    """The bank's size and where it was moved, without a GPU."""

    nbytes = 2**30

    def __init__(self) -> None:
        self.moved_to = None

    def to(self, device: torch.device) -> "_FakeBank":
        self.moved_to = device
        return self


def test_knn_keeps_the_bank_on_the_host_unless_the_device_has_room_for_it_twice_and_a_gib(monkeypatch):
    from ucdbench_plugins.evaluations.knn import _on_device_if_it_fits

    cuda, asked = torch.device("cuda", 1), []

    def free_memory(free: int):
        def mem_get_info(device):
            asked.append(device)
            return free, 10 * 2**40  # (free, total): only the free memory counts
        return mem_get_info

    monkeypatch.setattr(torch.cuda, "mem_get_info", free_memory(3 * 2**30 - 1))  # 2 · 1 GiB + 1 GiB, less a byte
    bank = _FakeBank()
    assert _on_device_if_it_fits(bank, cuda) is bank and bank.moved_to is None and asked == [cuda]
    monkeypatch.setattr(torch.cuda, "mem_get_info", free_memory(3 * 2**30))
    assert _on_device_if_it_fits(bank, cuda) is bank and bank.moved_to == cuda
    cpu_bank = _FakeBank()
    assert _on_device_if_it_fits(cpu_bank, torch.device("cpu")).moved_to == torch.device("cpu")


def test_the_linear_probe_declares_a_batch_of_features_and_its_layer_on_the_task_s_network_sketch():
    from ucdbench.api import MemoryNeed

    class Sketched:
        def __init__(self, width: int | None, classes: int | None) -> None:
            self.width, self.classes = width, classes

        def network_sketch(self) -> nn.Module:
            sketch = nn.Module()
            sketch.num_features, sketch.num_classes = self.width, self.classes
            return sketch

    config = {**LinearProbe.defaults("smoke"), "batch_size": 64}
    assert LinearProbe().memory_needs(Sketched(512, 10), config) == [
        MemoryNeed(4 * 3 * 64 * 512, "a batch of 64 × 512 features", "batch_size"),  # features, gradient, momentum
        MemoryNeed(4 * 3 * 513 * 10, "the 512 × 10 layer, its gradient and momentum", "batch_size")]
    assert LinearProbe().memory_needs(Sketched(None, 10), config) == []
    assert LinearProbe().memory_needs(Sketched(512, None), config) == []
    assert LinearProbe().memory_needs(object(), config) == []  # no sketch before the task is prepared


def test_the_linear_probe_s_milestones_are_whole_epochs_from_one():
    check = LinearProbe.settings["milestones"].check
    assert check([15, 30]) is None and check([1]) is None and check([]) is None
    for bad in ([0], [15, 2.5], [True], ["15"]):
        assert check(bad) == "give epochs as whole numbers ≥ 1, e.g. [15, 30]", bad


def test_the_linear_probe_is_fitted_with_the_run_s_settings_on_one_class_per_label(monkeypatch):
    from ucdbench_plugins.evaluations import linear_probe
    from ucdbench_plugins.shared.representation import ProbeRecipe

    fitted, scored = [], []

    def fit(train, train_labels, classes, device, seed, recipe):
        fitted.append((classes, device, seed, recipe))
        return "the probe"

    def top1(probe, queries, labels, device):
        scored.append((probe, device))
        return 12.5

    monkeypatch.setattr(linear_probe, "fit_linear_probe", fit)
    monkeypatch.setattr(linear_probe, "probe_top1", top1)
    task, _ = _known_task(mislabelled=0)
    figures = _measure(LinearProbe, task, epochs=3, batch_size=16, lr=0.5, momentum=0.25, weight_decay=0.0,
                       milestones=[2])
    cpu = torch.device("cpu")
    assert fitted == [(CLASSES, cpu, KnownFeatures.seed, ProbeRecipe(3, 16, 0.5, 0.25, 0.0, (2,)))]
    assert scored == [("the probe", cpu)] and figures == {"probe_top1": 12.5}
