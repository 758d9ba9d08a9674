"""N-way K-shot episodes and how they are scored, as in the official evaluation.

An episode draws ``n_way`` novel classes and, from each, ``k_shot`` support and ``queries``
query images, all distinct. It is scored by a logistic regression fitted on the L2-normalised
features of the support images (plus any augmented ones) and applied to those of the queries
(``few_shot/evaluate_v4.py``, ``evaluate_fewshot_v4``: features ``f / ||f||``, scikit-learn
``LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000)``, multinomial). A support set with
soft labels (MixUp's and CutMix's class probabilities) is scored, as ``few_shot/evaluate_v3.py``
scores those, by a linear classifier trained on them (:func:`linear_episode_accuracy`).
Accuracy over episodes is reported as mean ± 1.96 · std / √episodes with numpy's population std
(ddof = 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Episode:
    """Indices into the task's images: support (n_way · k_shot) and query (n_way · queries),
    each with its label 0..n_way-1, and the task class id of each label."""

    support: np.ndarray
    support_labels: np.ndarray
    query: np.ndarray
    query_labels: np.ndarray
    classes: np.ndarray


def sample_episode(labels: np.ndarray, novel: Sequence[int], n_way: int, k_shot: int, queries: int,
                   rng: np.random.Generator) -> Episode:
    """One episode from the images of the ``novel`` class ids only."""
    classes = rng.choice(np.asarray(novel), n_way, replace=False)
    support, support_labels, query, query_labels = [], [], [], []
    for label, cls in enumerate(classes):
        members = rng.choice(np.flatnonzero(labels == cls), k_shot + queries, replace=False)
        support.append(members[:k_shot])
        query.append(members[k_shot:])
        support_labels.append(np.full(k_shot, label))
        query_labels.append(np.full(queries, label))
    return Episode(np.concatenate(support), np.concatenate(support_labels), np.concatenate(query),
                   np.concatenate(query_labels), classes)


def normalised(features: torch.Tensor) -> np.ndarray:
    """Rows divided by their L2 norm, as float64 numpy for scikit-learn."""
    features = features.double()
    return (features / features.norm(dim=-1, keepdim=True)).cpu().numpy()


def episode_accuracy(support: np.ndarray, support_labels: np.ndarray, query: np.ndarray,
                     query_labels: np.ndarray) -> float:
    """Share of queries the logistic regression fitted on the support features gets right."""
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000, random_state=0)
    classifier.fit(support, support_labels)
    return float((classifier.predict(query) == query_labels).mean())


LINEAR_EPOCHS = 100
"""Epochs of the soft-label linear classifier (``train.py`` passes ``fine_tuning_epochs=100``)."""
LINEAR_BATCH = 16
"""Its batch size (``evaluate_v3.py``: ``batch_size = 16``)."""


def linear_episode_accuracy(support: np.ndarray, targets: np.ndarray, query: np.ndarray, query_labels: np.ndarray,
                            generator: torch.Generator) -> float:
    """Share of queries right by the official soft-label classifier (``evaluate_v3.py``, branch
    ``classifier == 'Linear'``): ``nn.Linear(D, n_way)`` at its default initialisation, SGD (lr
    0.1, momentum 0.9, dampening 0.9, weight decay 0.001) on cross-entropy with the (N, n_way)
    class probabilities ``targets``, batches of 16 in a fresh random order each epoch, 100
    epochs; every draw from ``generator``."""
    features = torch.from_numpy(support).float()
    probabilities = torch.from_numpy(targets).float()
    classifier = torch.nn.Linear(features.shape[1], probabilities.shape[1])
    bound = 1.0 / math.sqrt(features.shape[1])  # nn.Linear's own init: U(-1/√D, 1/√D) for weight and bias
    with torch.no_grad():
        classifier.weight.uniform_(-bound, bound, generator=generator)
        classifier.bias.uniform_(-bound, bound, generator=generator)
    optimizer = torch.optim.SGD(classifier.parameters(), lr=0.1, momentum=0.9, dampening=0.9, weight_decay=0.001)
    with torch.enable_grad():
        for _ in range(LINEAR_EPOCHS):
            order = torch.randperm(len(features), generator=generator)
            for start in range(0, len(order), LINEAR_BATCH):
                batch = order[start:start + LINEAR_BATCH]
                loss = torch.nn.functional.cross_entropy(classifier(features[batch]), probabilities[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    with torch.no_grad():
        predicted = classifier(torch.from_numpy(query).float()).argmax(dim=1).numpy()
    return float((predicted == query_labels).mean())


def mean_and_interval(accuracies: Sequence[float]) -> tuple[float, float]:
    """Mean accuracy and its 95% half-interval 1.96 · std / √n (population std)."""
    values = np.asarray(accuracies, dtype=np.float64)
    return float(values.mean()), float(1.96 * values.std() / math.sqrt(len(values)))
