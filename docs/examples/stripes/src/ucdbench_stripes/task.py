"""stripes: which way do the stripes of a noisy 8×8 image run?

Four classes (horizontal, vertical, diagonal and anti-diagonal stripes, 3 or 4 pixels apart at a
random phase, under Gaussian noise), generated here: nothing to download. The base model is a small
MLP whose classifier is a module named ``head`` (what ``ImageClassification`` promises), and
its pretrained form learned on two *other* patterns (checkerboards and rings), so what methods
are scored on never overlaps what the base saw — the transfer setting of adapters.

The images are fixed by ``split_seed``; the run's seed drives only initialisation and batch
order, so seeds measure the variance of training, not of the data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ucdbench.api import (
    ImageClassification, Metric, PerPreset, Setting, Task, cached_tensors, progress_bar, shuffled_batches,
)

SIDE = 8
CLASSES = ("horizontal", "vertical", "diagonal", "anti-diagonal")
PRETRAIN_CLASSES = ("checkerboard", "ring")


def draw(pattern: str, count: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``count`` images (count, 1, SIDE, SIDE) of ``pattern`` in [0, 1], each with its own period and phase."""
    i, j = np.meshgrid(np.arange(SIDE), np.arange(SIDE), indexing="ij")
    period = rng.integers(3, 5, size=(count, 1, 1))
    phase = rng.integers(0, 4, size=(count, 1, 1))
    line = {"horizontal": i, "vertical": j, "diagonal": i + j, "anti-diagonal": i - j + SIDE}
    if pattern in line:
        clean = (line[pattern] + phase) % period == 0
    elif pattern == "checkerboard":
        clean = ((i // (period - 1)) + (j // (period - 1)) + phase) % 2 == 0
    else:  # ring: concentric around a random centre
        centre = rng.uniform(2, SIDE - 2, size=(count, 2, 1, 1))
        radius = np.hypot(i - centre[:, 0], j - centre[:, 1])
        clean = np.round(radius + phase) % period == 0
    images = clean.astype(np.float32) + noise * rng.standard_normal((count, SIDE, SIDE)).astype(np.float32)
    return np.clip(images, 0, 1)[:, None]


def labelled(patterns: tuple[str, ...], per_class: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    images = np.concatenate([draw(p, per_class, noise, rng) for p in patterns])
    labels = np.repeat(np.arange(len(patterns)), per_class)
    return torch.from_numpy(images), torch.from_numpy(labels)


class MLP(nn.Module):
    """Flattened pixels → two hidden ReLU layers (``body``) → ``head``, the classifier."""

    def __init__(self, hidden: int, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class Stripes(Task, ImageClassification):
    name = "stripes"
    metrics = (Metric("top1", True, "%", "top-1 accuracy on the eval split"),
               Metric("nll", False, "nats", "mean cross-entropy on the eval split"))
    primary_metric = "top1"
    image_size = SIDE
    in_chans = 1
    settings = {
        "images_per_class": Setting(PerPreset(smoke=300, small=1000, paper=5000), "images of each class, "
                                    "train and eval together", minimum=10),
        "noise": Setting(0.2, "standard deviation of the Gaussian noise on each pixel", minimum=0),
        "hidden": Setting(64, "units of each hidden layer of the MLP", minimum=1),
        "pretrain_epochs": Setting(PerPreset(smoke=10, small=20, paper=40), "epochs of in-suite pretraining",
                                   minimum=1),
        "split_seed": Setting(0, "seed of the generated images and their train/eval split (not the run's)",
                              minimum=0),
    }

    # -- data: generated once per run, in prepare() ----------------------------------------------

    def prepare(self) -> None:
        images, labels = labelled(CLASSES, self.config["images_per_class"], self.config["noise"],
                                  self.config["split_seed"])
        is_eval = torch.arange(len(labels)) % 10 < 3  # 30% of each class, fixed
        self.train_x, self.train_y = images[~is_eval], labels[~is_eval]
        self.eval_x, self.eval_y = images[is_eval], labels[is_eval]

    @property
    def num_classes(self) -> int:
        return len(CLASSES)

    @property
    def architecture(self) -> str:
        return "mlp"

    def train_batches(self, batch_size: int, epochs: float) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for idx in shuffled_batches(len(self.train_y), batch_size, epochs, self.seed):
            yield self.train_x[idx], self.train_y[idx]

    def eval_batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self.eval_y), batch_size):
            yield self.eval_x[start:start + batch_size], self.eval_y[start:start + batch_size]

    def sample_inputs(self, batch_size: int, device: torch.device) -> torch.Tensor:
        repeats = -(-batch_size // len(self.eval_x))
        return self.eval_x.repeat(repeats, 1, 1, 1)[:batch_size].to(device)

    # -- the base model ------------------------------------------------------------------------

    def base_model(self, pretrained: bool = True) -> nn.Module:
        with torch.random.fork_rng():  # a function of the task's seed; the caller's generators untouched
            torch.manual_seed(self.seed)
            model = MLP(self.config["hidden"], len(CLASSES))
        if pretrained:
            state = cached_tensors("pretrained/stripes", self._pretrain_config(), self._pretrain)
            model.body.load_state_dict({k[len("body."):]: v for k, v in state.items() if k.startswith("body.")})
        return model  # the head stays freshly initialised for the task's classes

    def _pretrain_config(self) -> dict[str, Any]:
        keys = ("images_per_class", "noise", "hidden", "pretrain_epochs")
        return {"patterns": PRETRAIN_CLASSES, **{key: self.config[key] for key in keys}}

    def _pretrain(self) -> dict[str, torch.Tensor]:
        """Supervised pretraining on the held-out patterns, from fixed seeds (the cache is shared by every run)."""
        torch.manual_seed(0)
        images, labels = labelled(PRETRAIN_CLASSES, self.config["images_per_class"], self.config["noise"], seed=10_007)
        model = MLP(self.config["hidden"], len(PRETRAIN_CLASSES))
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
        batches = list(shuffled_batches(len(labels), 64, self.config["pretrain_epochs"], seed=0))
        for idx in progress_bar(batches, desc="pretrain stripes base", total=len(batches)):
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return model.state_dict()

    # -- scoring -------------------------------------------------------------------------------

    def loss(self, model: nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x.to(device)), y.to(device))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, device: torch.device,
                 input_transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
        model.eval()
        correct, nll = 0, 0.0
        for x, y in self.eval_batches(256):
            x, y = x.to(device), y.to(device)
            logits = model(input_transform(x) if input_transform is not None else x)
            correct += int((logits.argmax(-1) == y).sum())
            nll += float(F.cross_entropy(logits, y, reduction="sum"))
        return {"top1": 100.0 * correct / len(self.eval_y), "nll": nll / len(self.eval_y)}
