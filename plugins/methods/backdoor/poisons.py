"""The poisons, and the training stream they are mixed into.

- BadNets-style (``variant=badnets``): source-class training images with the trigger pasted at
  a random location, labelled as the target class. The official repository has no such
  generator (its poisons are hidden-trigger ones); the paste is its ``patched`` one.
- Hidden trigger (``variant=hidden``), as ``generate_poison_transformer.py`` (``train``) makes
  them: batches of target-class images, each perturbed by δ with ‖δ‖∞ ≤ ε, so that their
  features (the classifier's input: the class token after the final norm for a timm ViT, as
  timm 0.3.2's ``forward_features`` returned) come close to those of triggered source images;
  correctly labelled as the target. Per batch: δ = 0; each step, the source features are
  re-paired with the poisons' by :func:`official_pairing`, the loss is the sum of squared
  feature distances, δ ← clamp(δ − lr·∇δ, −ε, ε) with lr halved every 1000 steps, then the
  image is clamped to [0, 1].

The ε bound is the official one, in the space the network receives its input in
(``generate_poison_transformer.py``: ``eps1 = eps/255`` at line 188 is applied at line 297 to
the perturbation of ImageNet-normalised images, lines 248-249; the image is taken back to
pixels and clamped to [0, 1] at lines 299-301). The harness's images are in [0, 1] with any
normalisation inside the model, so :func:`epsilon_bound` turns ε into pixel units per channel:
ε · std where the network normalises its input itself (the local-dataset tasks' ``Normalise``,
ImageNet's std: 16/255 · 0.224 ≈ 3.6/255 in pixels, as the official code), ε itself where it
takes pixels as they are (``digits``, ``mnist``: no normalisation, so both spaces are one).
One departure: the official early stop (every pair's squared distance < 15, line 307, a DeiT-B
feature scale) is left out: ``poison_steps`` steps run.

The poisons are added to the clean training set (the official ``ConcatDataset`` of clean and
poison images): :class:`PoisonedTraining` is the task's own training stream with each batch
followed by its share of poisons, every poison seen once per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ucdbench.api import Task
from ucdbench_plugins.shared.backdoor.trigger import TriggerPaste
from ucdbench_plugins.shared.local_images.task import Normalise


def official_pairing(source: torch.Tensor, poison: torch.Tensor) -> torch.Tensor:
    """Source features re-paired to the poisons as the official loop does it: the K smallest
    entries of the (source × poison) distance matrix, in ascending order, each copy source row i
    to row j (its poison's); rows no pick reaches keep their feature. It is not one-to-one — a
    source feature may be copied twice and another lost — and the result is what the next step
    pairs again (the official code overwrites ``feat1`` in place)."""
    distances = torch.cdist(source, poison)
    picks = distances.flatten().argsort()[:len(poison)]
    paired = source.clone()
    for index in picks.tolist():
        i, j = divmod(index, distances.shape[1])
        paired[j] = source[i]
    return paired


def classifier_input(model: nn.Module, head: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The features ``head`` (the model's classifier) receives for ``images``."""
    seen: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0]))
    try:
        model(images)
    finally:
        handle.remove()
    return seen[-1].flatten(1)


def epsilon_bound(model: nn.Module, epsilon: float) -> torch.Tensor:
    """The official ε, given in the network's input space, as a bound on pixels: (1, C, 1, 1)
    ε · std where ``model`` normalises its input (a :class:`Normalise` inside), else ε."""
    normalise = next((m for m in model.modules() if isinstance(m, Normalise)), None)
    return torch.tensor(epsilon) if normalise is None else epsilon * normalise.std.detach().cpu()


def hidden_trigger_poisons(model: nn.Module, head: nn.Module, targets: torch.Tensor, sources: torch.Tensor,
                           trigger: TriggerPaste, *, epsilon: float, steps: int, lr: float, batch: int) -> torch.Tensor:
    """Target-class images perturbed within the official ``epsilon`` (:func:`epsilon_bound`)
    toward the features of ``sources`` with the trigger pasted, ``batch`` pairs at a time (the
    official loaders' 32)."""
    bound = epsilon_bound(model, epsilon).to(targets.dtype)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    poisons = []
    for start in range(0, len(targets), batch):
        clean = targets[start:start + batch]
        with torch.no_grad():
            source_features = classifier_input(model, head, trigger(sources[start:start + len(clean)]))
        delta = torch.zeros_like(clean)
        for step in range(steps):
            delta.requires_grad_(True)
            features = classifier_input(model, head, clean + delta)
            source_features = official_pairing(source_features, features.detach())
            loss = ((source_features - features) ** 2).sum()
            (gradient,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                delta = torch.maximum(torch.minimum(delta - lr * 0.5 ** (step // 1000) * gradient, bound), -bound)
                delta = (clean + delta).clamp(0, 1) - clean
        poisons.append((clean + delta).detach())
    return torch.cat(poisons)


class PoisonedTraining:
    """The task's training batches, each followed by its share of the poisons.

    Quacks as the task for :func:`ucdbench.api.train` (``train_batches``, ``loss``): over
    ``epochs`` passes every poison is visited ``epochs`` times, in an order drawn from ``seed``,
    spread evenly over the task's batches, as if the poisons were part of the training set.
    """

    def __init__(self, task: Task, images: torch.Tensor, labels: torch.Tensor, seed: int) -> None:
        self.task, self.images, self.labels, self.seed = task, images, labels, seed

    def train_batches(self, batch_size: int, epochs: float) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        clean = list(self.task.train_batches(batch_size, epochs))
        visits = round(epochs * len(self.labels))
        generator = torch.Generator().manual_seed(self.seed)
        passes = -(-visits // len(self.labels)) if len(self.labels) else 0
        order = torch.cat([torch.randperm(len(self.labels), generator=generator) for _ in range(passes)]
                          or [torch.empty(0, dtype=torch.long)])[:visits]
        for i, (x, y) in enumerate(clean):
            chosen = order[visits * i // len(clean):visits * (i + 1) // len(clean)]
            yield torch.cat([x, self.images[chosen]]), torch.cat([y, self.labels[chosen]])

    def loss(self, model: nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        return self.task.loss(model, batch, device)
