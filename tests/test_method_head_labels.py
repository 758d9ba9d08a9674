"""A representation method's classifier head is part of its outcome, so it is fitted on the
labels the task gives methods (noisy under ``label_noise``, the labelled images only under
``labelled_fraction``), never on the clean labels the evaluations score with: otherwise a row
fitted on clean labels is compared with full-ft's head trained on noisy ones (label leakage)."""

from __future__ import annotations

import torch

from ucdbench_plugins.shared.representation import labelled_features, with_linear_probe
from ucdbench_plugins.tasks.images.datasets import Digits


def _noisy_digits(**settings) -> Digits:
    task = Digits("smoke", 0, {**Digits.defaults("smoke"), "label_noise": 1.0, **settings})
    task.prepare()
    return task


def test_the_tasks_training_labels_are_the_noisy_ones_of_its_views_and_not_the_clean_ones():
    task = _noisy_digits(labelled_fraction=0.5)
    given = torch.as_tensor(task.training_labels())
    _, clean, index = labelled_features(torch.nn.Flatten(), task, "train", torch.device("cpu"))
    assert len(given) == task.num_train
    assert (given[index] != clean).all()  # label_noise=1.0: every training label differs from the clean one
    assert (given >= 0).sum() == len(index)  # labelled images only; the rest are -1
    for batch in task.view_batches(64, 1):
        assert torch.equal(batch.label, given[batch.index])


def test_the_head_a_method_fits_learns_the_labels_the_task_gives_it_not_the_clean_ones():
    """label_noise=1.0 changes every training label: a head fitted on them predicts the noisy
    label of a training image more often than its clean one (fitted on the clean labels, as
    before the fix, it is the other way round)."""
    task = _noisy_digits()
    torch.manual_seed(0)
    model = with_linear_probe(task, task.base_model(pretrained=False), torch.device("cpu"))
    given = torch.as_tensor(task.training_labels())
    predicted, clean, index = [], [], []
    with torch.no_grad():
        for batch in task.labelled_batches("train", 256):
            predicted.append(model(batch.images).argmax(dim=1))
            clean.append(batch.label)
            index.append(batch.index)
    predicted, clean, index = torch.cat(predicted), torch.cat(clean), torch.cat(index)
    agrees_with_given = (predicted == given[index]).float().mean()
    agrees_with_clean = (predicted == clean).float().mean()
    assert agrees_with_given > agrees_with_clean
