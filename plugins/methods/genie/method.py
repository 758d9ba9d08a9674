"""GeNIe, GeNIe-Ada and the few-shot augmentation baselines, as methods of one shape.

A method of this family trains nothing: it chooses how each episode's support set is
augmented (:mod:`ucdbench_plugins.shared.fewshot`) and hands the harness a
:class:`FewShotLearner` — the task's frozen backbone plus that augmentation, with the task's
generator inside it. Its artifact is the augmentation's recipe (the noise ratio, GeNIe-Ada's
candidate ratios, the mixing α), stored as tensors; the scored model is rebuilt from it, the
task's pretrained backbone and the task's generator. The harness measures accuracy (the task's
episodes) and the generation cost (``generation-cost``), never the method.

Ratios follow the official code: GeNIe r = 0.8 (``generate_data.sh``: ``--noise 0.8 --method
genie``), img2img r = 0.7 (the script also runs 0.3: ``--set ratio=0.3``), GeNIe-Ada chooses
among 0.5 … 0.9. txt2img is generation from pure noise (r = 1) as the paper and this suite's
issue define it; note that ``generate_data.sh`` passes ``--noise 0.8`` to ``genie.py``'s
txt2img branch, which then edits same-class images exactly as img2img at 0.8 would.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import torch
from torch import nn

from ucdbench.api import Artifact, ArtifactKind, Config, FewShotClassification, FitContext, Outcome, Setting, Task
from ucdbench_plugins.shared import papers
from ucdbench_plugins.shared.fewshot.augmentation import Augmentation, FewShotLearner, NoAugmentation
from ucdbench_plugins.shared.fewshot.generative import GENIE_ADA_RATIOS, GeNIe, GeNIeAda, Img2Img, Txt2Img
from ucdbench_plugins.shared.fewshot.grid import sample_grid
from ucdbench_plugins.shared.fewshot.mixing import MIXING_ALPHA, CutMix, MixUp
from ucdbench_plugins.shared.outcome import ModelOutcome


def _ratio(default: float, help: str) -> Setting:
    return Setting(default, help, minimum=0, exclusive_minimum=True, maximum=1)


def _ratios_check(value: Any) -> str | None:
    if not isinstance(value, list) or len(value) < 2 or not all(isinstance(r, (int, float)) for r in value):
        return "give a JSON list of at least two noise ratios, for example [0.5, 0.6, 0.7, 0.8, 0.9]"
    if sorted(value) != value or len(set(value)) != len(value) or not all(0 < r < 1 for r in value):
        return "ratios must increase strictly, each in (0, 1)"
    return None


class FewShotAugmentationMethod(ModelOutcome):
    """Augment each episode's support set, train nothing; the artifact is the recipe."""

    requires = (FewShotClassification,)

    @abstractmethod
    def augmentation(self, task: Task, recipe: dict[str, Any]) -> Augmentation:
        """The augmentation of ``recipe`` (this method's settings, or the artifact's)."""

    def recipe(self, config: Config) -> dict[str, Any]:
        """The settings the artifact stores (JSON), from which :meth:`augmentation` rebuilds it."""
        return {}

    def learner(self, task: Task, recipe: dict[str, Any], device: torch.device) -> FewShotLearner:
        """The augmentation (loading the generator, which can fail) before the backbone (which
        may pretrain for long), on ``device``."""
        augmentation = self.augmentation(task, recipe)
        return FewShotLearner(task.backbone(device), augmentation)

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        artifact = Artifact(tensors={}, metadata={"method": self.name, "recipe": self.recipe(config)},
                            kind=ArtifactKind.AUGMENTATION)
        return self.outcome(task, self.rebuild_model(task, artifact, ctx.device), artifact)

    def outcome(self, task: Task, learner: FewShotLearner, artifact: Artifact,
                metrics: dict[str, float] | None = None) -> Outcome:
        """The learner, reconstructed through :meth:`rebuild_model`; whether it generates images
        and, if it does, its sample grid, drawn from the task's seed."""

        def reconstruct(stored: Artifact, device: torch.device) -> dict[str, torch.Tensor]:
            return self.rebuild_model(task, stored, device).state_dict()

        def grid(device: torch.device) -> bytes:
            images, labels, classes = task.support_set(0)
            return sample_grid(learner.to(device), images.to(device), labels, classes, task.class_names,
                               torch.Generator().manual_seed(task.seed), title=self.name)

        generates = learner.augmentation.generates()
        extras: dict[str, Any] = {"generates_images": generates, **({"sample_grid": grid} if generates else {})}
        return Outcome(model=learner, artifact=artifact, reconstruct=reconstruct, metrics=dict(metrics or {}),
                       extras=extras)

    def rebuild_model(self, task: Task, artifact: Artifact, device: torch.device) -> nn.Module:
        """The task's backbone and generator with the augmentation of the stored recipe."""
        return self.learner(task, dict(artifact.metadata["recipe"]), device).to(device).eval()


class FewShotNone(FewShotAugmentationMethod):
    """The K shots alone: the baseline every augmentation must beat."""

    name = "fewshot-none"
    family = "data augmentation"
    paper = None

    def augmentation(self, task: Task, recipe: dict[str, Any]) -> Augmentation:
        return NoAugmentation()


class GenerativeMethod(FewShotAugmentationMethod):
    """An augmentation by the task's generator: refused before any run where it cannot be loaded."""

    def unsupported_reason(self, task: Task) -> str | None:
        """Why the task's generator cannot be loaded here; asked once the task's own data is
        there (what is missing of that is the task's to say, first)."""
        if task.unavailable_reason():
            return None
        return task.generator_unavailable_reason()


GENIE_UNAVAILABLE = ("GeNIe (arXiv 2312.02548): no few-shot table reachable: UCDvision/GeNIe @ee34b11 (README in "
                     "every version, notebooks, assets) has none; the paper PDF (klnavaneet/klnavaneet.github.io "
                     "@1787743, files/12-genie.pdf) could not be read; stored copies of the paper hold only "
                     "its opening")


class GeNIeMethod(GenerativeMethod):
    """GeNIe: other classes' shots edited towards each class at noise ratio r, labelled as it."""

    name = "genie"
    family = "data augmentation"
    paper = papers.GENIE
    reported_unavailable = GENIE_UNAVAILABLE
    settings = {"ratio": _ratio(0.8, "noise ratio r: the share of the diffusion schedule the source is noised "
                                     "to and denoised from (official default 0.8)")}

    def recipe(self, config: Config) -> dict[str, Any]:
        return {"ratio": config["ratio"]}

    def augmentation(self, task: Task, recipe: dict[str, Any]) -> Augmentation:
        return GeNIe(task.generator(), recipe["ratio"])


class GeNIeAdaMethod(GenerativeMethod):
    """GeNIe-Ada: r chosen per source image, right after the largest semantic jump."""

    name = "genie-ada"
    family = "data augmentation"
    paper = papers.GENIE
    reported_unavailable = GENIE_UNAVAILABLE
    settings = {"ratios": Setting(list(GENIE_ADA_RATIOS), "the noise ratios chosen from (a JSON list)", type=list,
                                  check=_ratios_check)}

    def recipe(self, config: Config) -> dict[str, Any]:
        return {"ratios": list(config["ratios"])}

    def augmentation(self, task: Task, recipe: dict[str, Any]) -> Augmentation:
        return GeNIeAda(task.generator(), tuple(recipe["ratios"]))


class Img2ImgMethod(GenerativeMethod):
    """img2img: each shot edited towards its own class (same-class source and prompt)."""

    name = "img2img"
    family = "data augmentation"
    paper = None
    settings = {"ratio": _ratio(0.7, "noise ratio r (the official script runs 0.3 and 0.7)")}

    def recipe(self, config: Config) -> dict[str, Any]:
        return {"ratio": config["ratio"]}

    def augmentation(self, task: Task, recipe: dict[str, Any]) -> Augmentation:
        return Img2Img(task.generator(), recipe["ratio"])


class Txt2ImgMethod(GenerativeMethod):
    """txt2img: images of each class generated from pure noise (r = 1)."""

    name = "txt2img"
    family = "data augmentation"
    paper = None

    def augmentation(self, task: Task, recipe: dict[str, Any]) -> Augmentation:
        return Txt2Img(task.generator())


class MixUpMethod(FewShotAugmentationMethod):
    """MixUp of shuffled support images in batches, soft labels (``few_shot/evaluate_v3.py``)."""

    name = "mixup"
    family = "data augmentation"
    paper = None
    settings = {"alpha": Setting(MIXING_ALPHA, "α of the Beta(α, α) mixing weight (official 0.8)", minimum=0,
                                 exclusive_minimum=True)}

    def recipe(self, config: Config) -> dict[str, Any]:
        return {"alpha": config["alpha"]}

    def augmentation(self, task: Task, recipe: dict[str, Any]) -> Augmentation:
        return MixUp(recipe["alpha"])


class CutMixMethod(MixUpMethod):
    """CutMix: a box of another support image of the batch pasted into each, soft labels (``evaluate_v3.py``)."""

    name = "cutmix"
    family = "data augmentation"
    paper = None

    def augmentation(self, task: Task, recipe: dict[str, Any]) -> Augmentation:
        return CutMix(recipe["alpha"])
