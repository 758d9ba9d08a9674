"""Task capabilities: typed contracts between tasks and the methods that need them.

A task subclasses :class:`ucdbench.api.Task` and the capabilities it offers; a method lists the
capabilities it needs in ``Method.requires`` (an entry may be a tuple: any one of them). The
harness then knows, before anything runs, whether a method can run on a task and why not
(``ucdbench list --matrix``), and a method reads only attributes its capabilities declare —
never a task's attributes on trust.

These are plain classes with annotations (no torch), so registration and listing stay light.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

if TYPE_CHECKING:
    import torch
    from torch import nn


class Capability(ABC):
    """What a kind of task offers methods, beyond the Task interface."""

    description: ClassVar[str]
    """What a task with this capability is, for messages ("an image-classification task")."""


class ImageClassification(Capability):
    """Classify images: inputs are float tensors (B, in_chans, image_size, image_size) in
    [0, 1]; :meth:`Task.base_model` is a network whose classifier parameters are named
    :meth:`head_parameters` (trained dense by adapter methods for the task's own classes)."""

    description = "an image-classification task"
    image_size: ClassVar[int]
    in_chans: ClassVar[int]

    @property
    @abstractmethod
    def num_classes(self) -> int:
        """Classes the task scores (known after ``prepare``)."""

    @property
    @abstractmethod
    def architecture(self) -> str:
        """The base model's architecture: ``"vit"`` for a timm VisionTransformer with a class
        token, else another name (``"cnn"``, ``"mlp"``, a timm model name)."""

    def head_parameters(self, model: nn.Module) -> list[str]:
        """Names of ``model``'s classifier parameters (``head.*`` in every built-in base)."""
        return [name for name, _ in model.named_parameters() if name.startswith("head.")]

    def encoder(self, model: nn.Module) -> nn.Module | None:
        """``model``'s representation: a module giving what its classifier ``head`` receives
        (pooled CNN features, a ViT's class token, an MLP's last hidden layer) for the same
        inputs, or None when it has no module named ``head``. The representation evaluations
        read a model's features through this unless its outcome names an encoder."""
        from ucdbench.contracts.representation import HeadInput

        return HeadInput.of(model)

    @abstractmethod
    def eval_batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The eval split as labelled (images, labels) batches on CPU, in a fixed order and
        without augmentation: the images :meth:`Task.evaluate` scores, for evaluations that
        need the labels themselves (a targeted attack's success counts images by their class)."""


class LanguageModeling(Capability):
    """Next-token prediction: :meth:`Task.base_model` is a causal language model (a
    transformers ``PreTrainedModel``) whose linear layers adapter methods may target."""

    description = "a language-modelling task"


class SceneReconstruction(Capability):
    """Novel-view synthesis of one 3D scene with 3D Gaussian Splatting: :meth:`Task.base_model`
    is the trained (uncompressed) Gaussians; methods train on ``train_views`` and build models
    of their own Gaussians with :meth:`model_from_state`, so every model renders alike."""

    description = "a 3D Gaussian Splatting scene task"
    train_views: list[tuple[Any, Any]]
    """(camera, image) pairs to train on (known after ``prepare``)."""
    scene_extent: float
    """Radius of the scene, which scales densification and learning rates."""
    background: Any
    """The background colour images are composited on (a 3-vector)."""

    @abstractmethod
    def model_from_state(self, state: dict[str, Any]) -> nn.Module:
        """A renderable model holding the raw Gaussian parameters ``state``, with the task's
        background and rasteriser back end."""


class AugmentedViews(Capability):
    """Data for representation learning: two random augmentations of each training image
    (the papers' two views), its index and labels, and the labelled splits representations
    are scored on. A subclass of :class:`ImageClassification` tasks' data, in the same form.

    Labels methods train with may be corrupted (a label-noise setting) or missing (a
    semi-supervised setting: ``-1``); ``true_label`` is the clean one, for measuring only
    (the purity of found neighbours), never for training.

    Everything comes in batches, so a task may stream a split it cannot hold in memory
    (ImageNet's 1.28M images) as well as slice one it holds as a tensor.
    """

    description = "a task that provides augmented views of its images"

    @property
    @abstractmethod
    def num_train(self) -> int:
        """Training images (known after ``prepare``); ``index`` in a view batch is below it."""

    @abstractmethod
    def view_batches(self, batch_size: int, epochs: float) -> Iterable[ViewBatch]:
        """Shuffled batches for ``epochs`` passes, views drawn from the task's seed: each a
        :class:`ViewBatch` (on CPU)."""

    @abstractmethod
    def training_labels(self) -> Any:
        """(num_train,) the labels methods may train with, by position in the training split
        (``index``): :attr:`ViewBatch.label`'s, noisy under label noise, -1 where unlabelled.
        What a method fits a classifier head on; :meth:`labelled_batches`' clean labels are for
        scoring only (a head fitted on them would see labels no method is given)."""

    @abstractmethod
    def labelled_batches(self, split: str, batch_size: int) -> Iterable[LabelledBatch]:
        """One pass, in a fixed order, over ``"train"`` (the labelled training images: every
        one unless a labelled fraction is set) or ``"eval"``, unaugmented (the task's eval
        transform), with clean labels: the bank and the queries of the representation
        evaluations. Each a :class:`LabelledBatch` of at most ``batch_size`` images (on CPU);
        the same split and batch size give the same batches."""


class ViewBatch(NamedTuple):
    """One batch of :meth:`AugmentedViews.view_batches`."""

    index: Any
    """(B,) positions of the images in the training split."""
    strong: Any
    """(B, C, H, W) strongly augmented views (crop, intensity jitter, blur)."""
    weak: Any
    """(B, C, H, W) weakly augmented views (crop only) of the same images."""
    label: Any
    """(B,) the labels methods may train with: noisy under label noise, -1 where unlabelled."""
    true_label: Any
    """(B,) the clean labels, for measuring only."""


class LabelledBatch(NamedTuple):
    """One batch of :meth:`AugmentedViews.labelled_batches`."""

    index: Any
    """(B,) positions of the images in their split (for ``"train"``, the ``index`` of
    :class:`ViewBatch`)."""
    images: Any
    """(B, C, H, W) the images, unaugmented."""
    label: Any
    """(B,) their clean labels."""


class FewShotClassification(Capability):
    """N-way K-shot episodes drawn from novel classes, scored by logistic regression on the
    L2-normalised features of a frozen backbone (:meth:`Task.base_model`: images in [0, 1] of
    shape (B, in_chans, image_size, image_size) → features (B, D), pretrained on disjoint base
    classes). The scored model is that backbone; where it also has a method
    ``augment(images, labels, classes, generator, view=..., views=...) -> (images, labels)``,
    the task calls it on each episode's support set (labels 0..n_way-1, ``classes`` their ids
    in :attr:`class_names`; ``view(images, generator)`` the transform the task applies to support
    images before embedding them and ``views`` how many views of each shot it embeds) and adds
    what it returns, embedded as it is, to the support set before fitting the classifier; labels
    it returns as (M, n_way) class probabilities are soft labels."""

    description = "a few-shot classification task"
    image_size: int
    in_chans: int
    n_way: int
    k_shot: int

    @property
    @abstractmethod
    def class_names(self) -> list[str]:
        """Names of every class the task's generator knows, base and novel (known after
        ``prepare``), for prompts such as "a photo of a {name}"."""

    @abstractmethod
    def support_set(self, episode: int) -> tuple[Any, Any, Any]:
        """The support set of episode ``episode`` as :meth:`Task.evaluate` draws it: images,
        labels 0..n_way-1 and the class id of each label (for measuring an augmentation)."""

    @abstractmethod
    def generator(self) -> nn.Module:
        """The task's image generator, which knows every class (the stand-in for a general
        text-to-image model): a module with ``edit(images, classes, ratio, generator)``."""

    def generator_unavailable_reason(self) -> str | None:
        """None when :meth:`generator` can be built here; otherwise what is missing and how to
        supply it. A method that uses the generator asks before the first run starts (in its
        ``unsupported_reason``), so that weights not on this machine are a usage error before
        any pretraining, and a method that uses none never asks. Be cheap: check files exist."""
        return None

    def support_views(self) -> tuple[Callable[[torch.Tensor, torch.Generator], torch.Tensor], int]:
        """(``view``, ``views``): the transform the task applies to support images before
        embedding them and how many views of each shot it embeds, as it hands them to
        ``augment`` (an evaluation measuring an augmentation passes the same). By default each
        image once, as it is."""
        return (lambda images, generator: images), 1

    def backbone(self, device: torch.device) -> nn.Module:
        """The frozen pretrained backbone on ``device``, the run's device, where a task
        pretrains it when it is not cached. By default the base model, moved there."""
        return self.base_model(pretrained=True).to(device)  # type: ignore[attr-defined]


def missing_capabilities(requires: tuple[Any, ...], task: object) -> list[str]:
    """Descriptions of the requirements ``task`` does not meet (an entry that is a tuple is
    met by any one of its capabilities)."""
    missing = []
    for requirement in requires:
        options = requirement if isinstance(requirement, tuple) else (requirement,)
        if not any(isinstance(task, option) for option in options):
            missing.append(" or ".join(option.description for option in options))
    return missing
