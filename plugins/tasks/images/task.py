"""Image classification tasks on small offline datasets, with held-out-class pretraining.

The protocol (shared by ``digits`` and ``mnist``): the task classifies ``classes`` (default the
digits 5–9); the base model is pretrained in-suite on the disjoint ``pretrain_classes``
(default 0–4), cached, and handed out with a fresh classifier head for the task's classes —
the transfer setting that adapter methods (LoRA, NOLA) are evaluated in. Methods that train
from scratch (MCNC, PRANC) ask for ``base_model(pretrained=False)`` on the same classes, so
every method of one task is scored on the same images. ``--set task.classes=0-9
task.pretrain_classes=none`` gives the plain 10-class problem for from-scratch methods.

The split into train and eval images is fixed (stratified, ``split_seed``); the run seed only
drives model initialisation and batch order, so seeds measure training variance.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ucdbench.api import (
    AugmentedViews, ImageClassification, LabelledBatch, Metric, PerPreset, Setting, Task, UcdbenchError, ViewBatch,
    cached_tensors, progress_bar, shuffled_batches,
)
from ucdbench_plugins.shared.labels import label_settings, labelled_mask, noisy_labels
from ucdbench_plugins.tasks.images.models import MODELS, build_image_model
from ucdbench_plugins.tasks.images.views import MODALITIES, edges, strong_view, weak_view


def parse_classes(spec: str | list[int], num_labels: int) -> list[int]:
    """``"5-9"``, ``"0,2,4"``, ``"all"``, ``"none"`` or a list → sorted class ids."""
    if isinstance(spec, list):
        classes = [int(c) for c in spec]
    elif spec == "all":
        classes = list(range(num_labels))
    elif spec in ("none", ""):
        classes = []
    else:
        classes = []
        for part in str(spec).split(","):
            lo, _, hi = part.partition("-")
            classes += list(range(int(lo), int(hi or lo) + 1))
    bad = [c for c in classes if not 0 <= c < num_labels]
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (", …" if len(bad) > 5 else "")
        raise UcdbenchError(f"class ids {shown} are outside 0..{num_labels - 1}")
    return sorted(set(classes))


def classes_check(num_labels: int, at_least: int) -> Callable[[Any], str | None]:
    """A setting check: the value names at least ``at_least`` class ids within 0..num_labels-1."""

    def check(spec: Any) -> str | None:
        try:
            classes = parse_classes(spec, num_labels)
        except (UcdbenchError, ValueError, TypeError) as exc:
            return f"{exc}; give a range '5-9', a list '0,2,4' or [0, 2, 4], 'all' or 'none'"
        if len(classes) < at_least:
            return f"{spec!r} names {len(classes)} classes; give at least {at_least} of 0..{num_labels - 1}"
        return None

    return check


def image_task_settings(num_labels: int, *, width: PerPreset, depth: PerPreset, heads: PerPreset,
                        patch_size: PerPreset, pretrain_epochs: PerPreset, pretrain_lr: PerPreset) -> dict[str, Setting]:
    """The settings of an offline image task with ``num_labels`` classes and these model sizes."""
    classes = "class ids as a range '5-9', a list '0,2,4', 'all' or 'none'"
    return {
        "model": Setting("vit", "the base model: a timm ViT, a small BatchNorm CNN, or an MLP", choices=MODELS),
        "classes": Setting("5-9", f"the classes the task classifies ({classes})", type=(str, list),
                           check=classes_check(num_labels, 2)),
        "pretrain_classes": Setting("0-4", f"the held-out classes the base is pretrained on ({classes})",
                                    type=(str, list), check=classes_check(num_labels, 0)),
        "test_fraction": Setting(0.3, "share of each class's images in the eval split", minimum=0,
                                 exclusive_minimum=True, maximum=0.9),
        "split_seed": Setting(0, "seed of the fixed train/eval split (not the run's seed)", minimum=0),
        "width": Setting(width, "embedding width (ViT), channels of the first stage (CNN), hidden units (MLP)",
                         minimum=1),
        "depth": Setting(depth, "blocks (ViT), stages (CNN), hidden layers (MLP)", minimum=1),
        "heads": Setting(heads, "attention heads of the ViT (must divide width)", minimum=1),
        "patch_size": Setting(patch_size, "ViT patch side in pixels (must divide the image side)", minimum=1),
        "pretrain_epochs": Setting(pretrain_epochs, "epochs of in-suite pretraining on pretrain_classes", minimum=0),
        "pretrain_lr": Setting(pretrain_lr, "learning rate of in-suite pretraining", minimum=0, exclusive_minimum=True),
        **label_settings(),
        "modality": Setting("image", "what each image is given as: its pixels, or its Sobel edge map (a second "
                                     "modality of the same instances, the analogue of optical flow to video frames)",
                            choices=MODALITIES),
    }


class ImageClassificationTask(Task, ImageClassification, AugmentedViews):
    """Base of the offline image tasks; subclasses say how to load their images.

    For representation learning they give two augmented views of each training image
    (:mod:`.views`), with training labels that may carry noise (``label_noise``) or be missing
    (``labelled_fraction``): :meth:`train_batches` draws only labelled images, with their
    possibly noisy labels; :meth:`labelled_batches` gives the clean labels scoring uses."""

    metrics: ClassVar[tuple[Metric, ...]] = (
        Metric("top1", True, "%", "top-1 accuracy on the eval split"),
        Metric("nll", False, "nats", "mean cross-entropy on the eval split"),
    )
    primary_metric: ClassVar[str] = "top1"
    image_size: ClassVar[int]
    in_chans: ClassVar[int] = 1
    num_labels: ClassVar[int] = 10

    @classmethod
    @abstractmethod
    def load_images(cls) -> tuple[np.ndarray, np.ndarray]:
        """All images as float32 (N, C, H, W) in [0, 1] and int64 labels (N,)."""

    # -- data ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        if self.config["model"] not in MODELS:
            raise UcdbenchError(
                f"task.model={self.config['model']!r} is not a model of {self.name}; "
                f"choose one of {', '.join(MODELS)}"
            )
        images, labels = self.load_images()
        if self.config.get("modality", "image") == "edges":
            images = edges(images)
        self.classes = parse_classes(self.config["classes"], self.num_labels)
        self.pretrain_class_ids = parse_classes(self.config["pretrain_classes"], self.num_labels)
        if len(self.classes) < 2:
            raise UcdbenchError(f"task.classes={self.config['classes']!r} names fewer than 2 classes")
        chosen = np.isin(labels, self.classes)
        remap = {c: i for i, c in enumerate(self.classes)}
        x, y = images[chosen], np.array([remap[int(c)] for c in labels[chosen]])
        rng = np.random.default_rng(self.config["split_seed"])
        eval_idx = []
        for label in range(len(self.classes)):
            members = np.flatnonzero(y == label)
            eval_idx += list(rng.choice(members, int(round(len(members) * self.config["test_fraction"])), replace=False))
        is_eval = np.zeros(len(y), dtype=bool)
        is_eval[eval_idx] = True
        self.train_x, self.train_y = torch.from_numpy(x[~is_eval]), torch.from_numpy(y[~is_eval])
        self.eval_x, self.eval_y = torch.from_numpy(x[is_eval]), torch.from_numpy(y[is_eval])
        self.train_labels = noisy_labels(self.train_y, len(self.classes), self.config.get("label_noise", 0.0),
                                         self.seed)
        self.labelled = labelled_mask(self.train_y, self.config.get("labelled_fraction", 1.0),
                                      self.config["split_seed"])
        pretrain = np.isin(labels, self.pretrain_class_ids)
        pre_remap = {c: i for i, c in enumerate(self.pretrain_class_ids)}
        self.pretrain_x = torch.from_numpy(images[pretrain])
        self.pretrain_y = torch.tensor([pre_remap[int(c)] for c in labels[pretrain]], dtype=torch.long)

    @property
    def architecture(self) -> str:
        return self.config["model"]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def train_batches(self, batch_size: int, epochs: float) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The labelled training images with the labels methods train with (noisy under
        ``label_noise``)."""
        return _batches(self.train_x[self.labelled], self.train_labels[self.labelled], batch_size, epochs, self.seed)

    # -- representation learning -------------------------------------------------------------

    @property
    def num_train(self) -> int:
        return len(self.train_y)

    def training_labels(self) -> torch.Tensor:
        return torch.where(self.labelled, self.train_labels, torch.full_like(self.train_labels, -1))

    def view_batches(self, batch_size: int, epochs: float) -> Iterator[ViewBatch]:
        generator = torch.Generator().manual_seed(7_919 * self.seed + 3)
        labels = self.training_labels()
        for idx in shuffled_batches(len(self.train_y), batch_size, epochs, self.seed):
            x = self.train_x[idx]
            yield ViewBatch(idx, strong_view(x, generator), weak_view(x, generator), labels[idx], self.train_y[idx])

    def labelled_batches(self, split: str, batch_size: int) -> Iterator[LabelledBatch]:
        if split == "train":
            index = self.labelled.nonzero().flatten()
            images, labels = self.train_x, self.train_y
        elif split == "eval":
            index = torch.arange(len(self.eval_y))
            images, labels = self.eval_x, self.eval_y
        else:
            raise ValueError(f"unknown split {split!r}; 'train' or 'eval'")
        for start in range(0, len(index), batch_size):
            chunk = index[start:start + batch_size]
            yield LabelledBatch(chunk, images[chunk], labels[chunk])

    # -- models -------------------------------------------------------------------------------

    def model_config(self) -> dict[str, Any]:
        keys = ("model", "width", "depth", "heads", "patch_size")
        return {k: self.config[k] for k in keys if k in self.config}

    def base_model(self, pretrained: bool = True) -> nn.Module:
        torch.manual_seed(self.seed)
        model = build_image_model(self.model_config(), self.image_size, self.in_chans, self.num_classes)
        if not pretrained:
            return model
        overlap = set(self.classes) & set(self.pretrain_class_ids)
        if overlap or not self.pretrain_class_ids:
            raise UcdbenchError(
                f"{self.name}: a pretrained base needs pretrain_classes disjoint from the task's "
                f"classes (classes={self.config['classes']}, pretrain_classes="
                f"{self.config['pretrain_classes']}); set task.pretrain_classes to held-out classes, "
                "or use a method that trains from scratch"
            )
        state = cached_tensors("pretrained/" + self.name, self._pretrain_config(), self._pretrain)
        body = {k: v for k, v in state.items() if not k.startswith("head.")}
        model.load_state_dict(body, strict=False)  # the head stays freshly initialised for the task
        return model

    def _pretrain_config(self) -> dict[str, Any]:
        return {
            "task": self.name, "model": self.model_config(), "pretrain_classes": self.pretrain_class_ids,
            "epochs": self.config["pretrain_epochs"], "lr": self.config["pretrain_lr"], "seed": 0,
            "image_size": self.image_size, "in_chans": self.in_chans,
            **({"modality": self.config["modality"]} if self.config.get("modality", "image") != "image" else {}),
        }

    def _pretrain(self) -> dict[str, torch.Tensor]:
        """Supervised pretraining on the held-out classes (fixed seed, so the cache is shared)."""
        torch.manual_seed(0)
        model = build_image_model(self.model_config(), self.image_size, self.in_chans, len(self.pretrain_class_ids))
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.config["pretrain_lr"], weight_decay=0.05)
        model.train()
        batches = list(_batches(self.pretrain_x, self.pretrain_y, 64, self.config["pretrain_epochs"], seed=0))
        for x, y in progress_bar(batches, desc=f"pretrain {self.name} base", total=len(batches)):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return model.state_dict()

    # -- scoring ------------------------------------------------------------------------------

    def loss(self, model: nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x.to(device)), y.to(device))

    @torch.no_grad()
    def evaluate(
        self,
        model: nn.Module,
        device: torch.device,
        input_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> dict[str, float]:
        model.eval()
        correct, nll = 0, 0.0
        for start in range(0, len(self.eval_y), 256):
            x = self.eval_x[start:start + 256].to(device)
            y = self.eval_y[start:start + 256].to(device)
            if input_transform is not None:
                x = input_transform(x)
            logits = model(x)
            correct += int((logits.argmax(-1) == y).sum())
            nll += float(F.cross_entropy(logits, y, reduction="sum"))
        n = len(self.eval_y)
        return {"top1": 100.0 * correct / n, "nll": nll / n}

    def eval_batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self.eval_y), batch_size):
            yield self.eval_x[start:start + batch_size], self.eval_y[start:start + batch_size]

    def sample_inputs(self, batch_size: int, device: torch.device) -> torch.Tensor:
        reps = -(-batch_size // len(self.eval_x))
        return self.eval_x.repeat(reps, 1, 1, 1)[:batch_size].to(device)


def _batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, epochs: float, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for idx in shuffled_batches(len(y), batch_size, epochs, seed):
        yield x[idx], y[idx]
