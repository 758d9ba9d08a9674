"""The base of the tasks on a user's local dataset with a timm model (``imagenet``, ``video``).

Like the other image tasks, inputs are tensors in [0, 1] — so attacks and triggers see
pixels — the model normalises them itself, and its classifier is ``.head`` (see
:class:`NormalizedClassifier`). A subclass says where its data is (:meth:`open_splits`) and,
where its inputs are not RGB images, how they become tensors (:meth:`transforms`,
:meth:`view_transforms`, :meth:`normalisation`); the default transforms are timm's own for the
model (``resolve_data_config`` / ``create_transform``: random-resized crop and flip for
training, resize and centre crop for eval), with the normalisation moved into the model.

For representation learning (BYOL, MSF, CMSF, SimReg at ``--preset paper``) the task gives two
views of each training image (the MSF/CMSF augmentations, :mod:`.views`), the labelled splits
the kNN and linear-probe evaluations score on (train and eval images through the eval
transform, streamed in batches), ``label_noise`` and a labelled subset: ``labelled_fraction``,
or ``labelled_list``, a file of image names such as the 10% subset the official
semi-supervised CMSF trains on (``semi_supervised/imagenet_subsets/1p_10p/subsets/10percent_lbl.txt``).

The pretrained base is the timm model's published weights: from ``task.checkpoint`` (a local
file) or else from the Hugging Face hub through timm, which needs a connection or a warm hub
cache. When the dataset has a different number of classes than the checkpoint (ImageNet-100,
say) timm leaves the classifier freshly initialised; when the input has other channels than
RGB (stacked optical flow), timm adapts the first convolution's weights to them.
"""

from __future__ import annotations

import difflib
import os
from abc import abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ucdbench.api import (
    AugmentedViews, ImageClassification, LabelledBatch, Metric, PerPreset, Setting, Task, UcdbenchError, ViewBatch,
)
from ucdbench_plugins.shared.labels import label_settings, labelled_mask, noisy_labels
from ucdbench_plugins.shared.local_images.folders import file_names, labels_of, split_folders
from ucdbench_plugins.shared.local_images.items import Items, TwoViews
from ucdbench_plugins.shared.local_images.views import strong_transform, weak_transform
from ucdbench_plugins.shared.vision import is_vit


class Normalise(nn.Module):
    """Inputs in [0, 1] to what the timm network was trained on: ``(x - mean) / std`` per channel."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class NormalizedClassifier(nn.Module):
    """A timm classifier split as the other image tasks' models are: ``features`` (the timm
    network without its classifier, pooled features out) and ``head`` (its classifier), taking
    images in [0, 1] and applying the network's own mean/std inside (``inputs``)."""

    def __init__(self, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.head = net.get_classifier()
        net.reset_classifier(0)  # timm swaps the classifier for an identity
        self.features = net
        self.inputs = Normalise(mean, std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.inputs(x)))

    def taken_apart(self) -> tuple[nn.Module, nn.Module]:
        """(the timm network with its classifier back as ``.head``, the input normalisation), for
        a method that rebuilds the network's forward pass (the adaptive ViTs). The modules are
        this model's own: use the parts instead of the model, not beside it."""
        self.features.head = self.head
        return self.features, self.inputs


def local_settings(root_help: str, model: str = "resnet18") -> dict[str, Setting]:
    """The settings every local-dataset task has; ``root_help`` says what its folder holds.
    The folder, the files and the model they name are checked before any run starts
    (:meth:`LocalImageClassification.unavailable_reason`)."""
    return {
        "root": Setting("", root_help),
        "model": Setting(model, "a timm model name (timm.list_models())"),
        "checkpoint": Setting("", "a local checkpoint of that model; '' uses timm's pretrained weights from the hub "
                                  "cache"),
        "image_size": Setting(PerPreset(64, 0, 0), "input side in pixels (0: the model's own)", minimum=0),
        "max_train_images": Setting(PerPreset(256, 20000, 0), "training items used (0: all)", minimum=0),
        "max_eval_images": Setting(PerPreset(256, 5000, 0), "eval items scored (0: all)", minimum=0),
        "workers": Setting(PerPreset(0, 2, 8), "data-loading processes", minimum=0),
        **label_settings(),
        "labelled_list": Setting("", "a file of training file names, one per line, whose labels methods may use "
                                     "(the official 10% subset list); '' uses labelled_fraction"),
    }


class LocalImageClassification(Task, ImageClassification, AugmentedViews):
    """Classification of a local dataset's train/eval splits by a timm model."""

    metrics: ClassVar[tuple[Metric, ...]] = (
        Metric("top1", True, "%", "top-1 accuracy on the eval split"),
        Metric("top5", True, "%", "top-5 accuracy on the eval split"),
        Metric("nll", False, "nats", "mean cross-entropy on the eval split"),
    )
    primary_metric: ClassVar[str] = "top1"
    in_chans: int = 3
    env: ClassVar[str]
    """The environment variable that names the dataset folder when ``task.root`` is ''."""
    layout: ClassVar[str]
    """What the folder must hold, for the message when it is missing."""

    @abstractmethod
    def open_splits(self, root: Path) -> tuple[Any, Any, list[str]]:
        """(train, eval, class names): map-style datasets of (item, label), untransformed, with
        ``targets`` (or ``samples``) to read labels from without decoding."""

    def transforms(self, pixels: dict[str, Any]) -> tuple[Any, Any]:
        """(training, eval) transforms of an item to a tensor in [0, 1]; ``pixels`` is timm's
        data config of the model with the normalisation taken out."""
        import timm.data

        return (timm.data.create_transform(**pixels, is_training=True),
                timm.data.create_transform(**pixels, is_training=False))

    def view_transforms(self) -> tuple[Any, Any]:
        """(strong, weak) random views of an item for representation learning."""
        return strong_transform(self.image_size), weak_transform(self.image_size)

    def normalisation(self, data_config: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The (mean, std) per input channel the model normalises by."""
        return data_config["mean"], data_config["std"]

    def has_splits(self, root: Path) -> bool:
        """Whether the dataset folder holds its splits (train/ and val/); only folders are looked at."""
        return split_folders(root) is not None

    # -- data ---------------------------------------------------------------------------------

    def unavailable_reason(self) -> str | None:
        """What is wrong with the dataset folder (``task.root``, or else ``$env``: missing, or
        without its train/ and val/ splits), ``task.model`` (not a timm model), the
        ``task.checkpoint`` and ``labelled_list`` files (missing): all that would otherwise
        fail inside the run. Only names and folders are looked at, no data or weights read."""
        fix = f"set ${self.env} (or --set task.root=PATH) to {self.layout}"
        configured = self.config["root"] or os.environ.get(self.env, "")
        if not configured:
            return f"no local dataset is configured: {fix}"
        named = f"task.root={configured!r}" if self.config["root"] else f"${self.env}={configured!r}"
        root = Path(configured).expanduser()
        if not root.is_dir():
            return f"{named} is not a folder: {fix}"
        if not self.has_splits(root):
            return f"{named} has no train/ and val/ folders: {fix}"
        model = self._model_problem()
        if model:
            return model
        checkpoint = self.config["checkpoint"]
        if checkpoint and not Path(checkpoint).expanduser().is_file():
            return (f"task.checkpoint={checkpoint!r} is not a file: give the path of a local checkpoint of "
                    f"task.model={self.config['model']!r} (a state dict, .pth or .safetensors), or leave it '' "
                    "for timm's pretrained weights from the hub cache")
        listed = self.config["labelled_list"]
        if listed and not Path(listed).expanduser().is_file():
            return (f"task.labelled_list={listed!r} is not a file: give a file of training image names, one per "
                    "line (as the official 10percent.txt), or leave it '' to use task.labelled_fraction")
        return None

    def prepare(self) -> None:
        missing = self.unavailable_reason()  # the runner asked before any run; a direct caller may not have
        if missing:
            raise UcdbenchError(f"task {self.name!r}: {missing}")
        root = Path(self.config["root"] or os.environ[self.env]).expanduser()
        import timm
        import timm.data

        name = self._timm_name()
        published = timm.models.get_pretrained_cfg(name)
        data_config = timm.data.resolve_data_config(pretrained_cfg=published.to_dict() if published else {})
        if self.config["image_size"]:
            data_config["input_size"] = (3, self.config["image_size"], self.config["image_size"])
        self.image_size = data_config["input_size"][-1]
        self.mean, self.std = self.normalisation(data_config)
        pixels = {**data_config, "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}  # keep [0, 1]
        train, evaluation, self.class_names = self.open_splits(root)
        self.train_transform, self.eval_transform = self.transforms(pixels)
        self.train_images = _subset(train, self.config["max_train_images"])
        self.eval_images = _subset(evaluation, self.config["max_eval_images"])
        self.true_labels = torch.tensor(labels_of(self.train_images))
        self.eval_labels = torch.tensor(labels_of(self.eval_images))
        self.train_labels = noisy_labels(self.true_labels, self.num_classes, self.config["label_noise"], self.seed)
        self.labelled = self._labelled_mask()

    def _labelled_mask(self) -> torch.Tensor:
        listed = self.config["labelled_list"]
        if not listed:
            return labelled_mask(self.true_labels, self.config["labelled_fraction"], split_seed=0)
        lines = Path(listed).expanduser().read_text().splitlines()
        names = {Path(line.strip()).name for line in lines if line.strip()}
        mask = torch.tensor([name in names for name in file_names(self.train_images)])
        if not mask.any():
            raise UcdbenchError(f"no training image is named in task.labelled_list={listed!r}; it must list file "
                                "names of the training split (as 10percent.txt does)")
        return mask

    def _model_problem(self) -> str | None:
        """Why ``task.model`` cannot be built (not a timm model, with close names), or None."""
        import timm

        name = self.config["model"]
        if timm.is_model(name):
            return None
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        return (f"task.model={name!r} is not a timm model: set it to one of timm.list_models()"
                + (f" (did you mean {', '.join(close)}?)" if close else ""))

    def _timm_name(self) -> str:
        """``task.model``, checked to be a timm model."""
        problem = self._model_problem()
        if problem:
            raise UcdbenchError(problem)
        return self.config["model"]

    @property
    def architecture(self) -> str:
        return self.config["model"]

    def network_sketch(self) -> nn.Module:
        """The timm network ``task.model`` names, untrained on the meta device (no memory, no data
        needed before :meth:`prepare`): what a method inspects to see whether it can run here."""
        import timm

        name = self._timm_name()
        with torch.device("meta"):
            return timm.create_model(name, pretrained=False, in_chans=self.in_chans)

    def network_parts(self, model: NormalizedClassifier) -> tuple[nn.Module, nn.Module]:
        """(timm network, input normalisation) of a model :meth:`base_model` built: the accessor
        methods that need the network itself use (see :meth:`NormalizedClassifier.taken_apart`)."""
        return model.taken_apart()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def _loader(self, dataset: Any, batch_size: int, shuffle: bool, seed: int = 0) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, shuffle=shuffle, num_workers=self.config["workers"],
            generator=torch.Generator().manual_seed(seed),
        )

    def _passes(self, dataset: Items | TwoViews, batch_size: int, epochs: float) -> Iterator[Any]:
        """Shuffled batches of ``dataset`` for ``epochs`` passes, each pass's order and
        augmentations seeded from the task's seed and the pass."""
        steps = max(1, round(epochs * len(dataset) / batch_size))
        epoch = 0
        while steps > 0:
            dataset.seed = self.seed * 1000 + epoch
            for batch in self._loader(dataset, batch_size, shuffle=True, seed=dataset.seed):
                yield batch
                steps -= 1
                if steps == 0:
                    return
            epoch += 1

    def _labelled_positions(self) -> list[int]:
        return self.labelled.nonzero().flatten().tolist()

    def train_batches(self, batch_size: int, epochs: float) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Augmented (x, y) batches of the labelled training images, x in [0, 1], y the labels
        methods train with (noisy under ``label_noise``); the pass order follows the task's seed."""
        labelled = Items(self.train_images, self._labelled_positions(), self.train_transform, self.train_labels)
        for _, x, y in self._passes(labelled, batch_size, epochs):
            yield x, y

    # -- representation learning -------------------------------------------------------------

    @property
    def num_train(self) -> int:
        return len(self.train_images)

    def training_labels(self) -> torch.Tensor:
        return torch.where(self.labelled, self.train_labels, torch.full_like(self.train_labels, -1))

    def view_batches(self, batch_size: int, epochs: float) -> Iterator[ViewBatch]:
        views = TwoViews(self.train_images, *self.view_transforms(), self.training_labels(), self.true_labels)
        for batch in self._passes(views, batch_size, epochs):
            yield ViewBatch(*batch)

    def labelled_batches(self, split: str, batch_size: int) -> Iterator[LabelledBatch]:
        if split == "train":
            items = Items(self.train_images, self._labelled_positions(), self.eval_transform, self.true_labels)
        elif split == "eval":
            items = self._eval_items()
        else:
            raise ValueError(f"unknown split {split!r}; 'train' or 'eval'")
        for batch in self._loader(items, batch_size, shuffle=False):
            yield LabelledBatch(*batch)

    def _eval_items(self) -> Items:
        return Items(self.eval_images, list(range(len(self.eval_images))), self.eval_transform, self.eval_labels)

    # -- model --------------------------------------------------------------------------------

    def base_model(self, pretrained: bool = True) -> nn.Module:
        import timm

        torch.manual_seed(self.seed)
        name, checkpoint = self.config["model"], self.config["checkpoint"]
        options: dict[str, Any] = {"num_classes": self.num_classes, "in_chans": self.in_chans}
        if is_vit(self.network_sketch()):
            options["img_size"] = self.image_size  # its patch grid and position embedding follow the input
        if pretrained and checkpoint:  # a file: prepare() checked
            options["pretrained_cfg_overlay"] = {"file": str(Path(checkpoint).expanduser())}
        try:
            net = timm.create_model(name, pretrained=pretrained, **options)
        except Exception as exc:
            source = f"the checkpoint {checkpoint!r}" if checkpoint else "the Hugging Face hub (offline, or not cached?)"
            raise UcdbenchError(
                f"pretrained weights for timm model {name!r} could not be loaded from {source}: "
                f"{type(exc).__name__}: {str(exc).rstrip('.')}. Set task.checkpoint=PATH to a local checkpoint, or use "
                "a method that trains from scratch."
            ) from exc
        return NormalizedClassifier(net, self.mean, self.std)

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
        top1 = top5 = 0
        nll = 0.0
        k = min(5, self.num_classes)
        for _, x, y in self._loader(self._eval_items(), 64, shuffle=False):
            x, y = x.to(device), y.to(device)
            if input_transform is not None:
                x = input_transform(x)
            logits = model(x)
            hits = logits.topk(k, dim=-1).indices == y[:, None]
            top1 += int(hits[:, 0].sum())
            top5 += int(hits.any(dim=-1).sum())
            nll += float(F.cross_entropy(logits, y, reduction="sum"))
        n = len(self.eval_images)
        return {"top1": 100.0 * top1 / n, "top5": 100.0 * top5 / n, "nll": nll / n}

    def eval_batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for _, x, y in self._loader(self._eval_items(), batch_size, shuffle=False):
            yield x, y

    def sample_inputs(self, batch_size: int, device: torch.device) -> torch.Tensor:
        _, x, _ = next(iter(self._loader(self._eval_items(), batch_size, shuffle=False)))
        reps = -(-batch_size // len(x))
        return x.repeat(reps, 1, 1, 1)[:batch_size].to(device)


def _subset(dataset: Any, limit: int) -> Any:
    """A fixed random subset of ``limit`` items (all when 0), the same for every run seed."""
    if not limit or limit >= len(dataset):
        return dataset
    keep = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:limit]
    return torch.utils.data.Subset(dataset, sorted(keep.tolist()))
