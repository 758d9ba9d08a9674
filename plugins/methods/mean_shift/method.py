"""BYOL, MSF and CMSF (ECCV 2022, arXiv 2112.04607; constrained mean shift, arXiv 2110.10309)
as ucdbench methods: one training loop (``ucdbench_plugins.shared.mean_shift.training``), a
neighbour rule each (:mod:`.rules`).

Defaults are the official scripts' (``run_selfsup.sh``, ``run_supervised.sh``,
``semi_supervised/run_fullprecision.sh`` of UCDvision/CMSF): SGD lr 0.05 with a cosine, weight
decay 1e-4, EMA momentum 0.99, a 128,000-entry bank, k = 5 (self-supervised; k′ = 5 for 2Q), 10
(supervised and semi-supervised), batches of 256, 200 epochs — the ``paper`` preset. The
``small`` preset keeps their ratios at CPU scale: a bank of most of the training split (the
official one holds a tenth of ImageNet; a tenth of 1,257 digits would hold ~13 images of a
class, too few for 5 neighbours), 50 k-means clusters (ImageNet: 50,000, ~26 images each).
"""

from __future__ import annotations

import torch

from ucdbench.api import (
    AugmentedViews, Config, FitContext, ImageClassification, MemoryNeed, Outcome, PerPreset, ReportedFigure, RunReference,
    Setting, Task, UcdbenchError,
)
from ucdbench_plugins.shared import papers
from ucdbench_plugins.methods.mean_shift.rules import (
    ConfidentPseudoLabel, OtherModality, OwnTarget, SameCluster, SameLabel, TwoQueues,
)
from ucdbench_plugins.shared.mean_shift.networks import projection_width
from ucdbench_plugins.shared.mean_shift.training import NeighbourRule, fit_mean_shift
from ucdbench_plugins.shared.nearest_centroid import CHUNK_BYTES
from ucdbench_plugins.shared.method_settings import training_settings
from ucdbench_plugins.shared.outcome import DenseModel
from ucdbench_plugins.shared.reported import (
    ALL_LABELS, CMSF_KM_TABLE_1, CMSF_TABLE_1, CMSF_TABLE_2, CMSF_TABLE_4, CMSF_TABLE_6, FULL_IMAGENET, MSF_TABLE_1,
    MSF_TABLE_2,
)
from ucdbench_plugins.shared.representation import labelled_features
from ucdbench_plugins.shared.vision import network_sketch

COMMON = {
    **training_settings(epochs=PerPreset(1, 30, 200), batch_size=PerPreset(64, 128, 256), lr=0.05,
                        weight_decay=1e-4, optimiser="sgd"),
    "momentum": Setting(0.99, "EMA momentum of the target network", minimum=0, maximum=1),
    "bank_size": Setting(PerPreset(256, 1024, 128_000), "entries of the memory bank of target embeddings",
                         minimum=1),
}
BUDGET = {"task.model": "resnet50", "epochs": 200, "batch_size": 256, "bank_size": 128_000, **FULL_IMAGENET}
"""The papers' Table 1 setting: ResNet-50 from scratch on all of ImageNet, 200 epochs of batches
of 256, a 128K-entry bank."""
R50 = "ImageNet (all 1.28M images, 224 px), ResNet-50, 200 epochs, batch 256, 128K-entry bank"


def _paper(source: str, variant: str, linear: float, nn1: float, nn20: float,
           where: dict | None = None) -> tuple[ReportedFigure, ...]:
    """A Table 1 row: linear evaluation, 1-NN and 20-NN top-1 of ``variant`` (the method
    settings that tell it apart in ``where``), every image labelled."""
    where = {**BUDGET, **ALL_LABELS, **(where or {})}
    setting = f"{variant}; {R50}"
    return (ReportedFigure("imagenet", "linear-probe/probe_top1", linear,
                           f"{setting}; linear evaluation on every training label", source, where),
            ReportedFigure("imagenet", "knn/nn1_top1", nn1, f"{setting}; 1-NN (nearest neighbour)", source, where),
            ReportedFigure("imagenet", "knn/nn20_top1", nn20, f"{setting}; 20-NN", source, where))


def _few_labels(source: str, variant: str, fraction: float, top1: float,
                where: dict | None = None) -> ReportedFigure:
    """A linear evaluation on the labelled ``fraction`` of ImageNet after self-supervised training
    on every image (the papers' 1% / 10% rows)."""
    return ReportedFigure("imagenet", "linear-probe/probe_top1", top1,
                          f"{variant}; {R50}; linear evaluation on {fraction:.0%} of the training labels", source,
                          {**BUDGET, "task.labelled_fraction": fraction, **(where or {})})


def _topk(default) -> dict[str, Setting]:
    return {"topk": Setting(default, "k: nearest bank entries the query is pulled towards", minimum=1)}


def _topk_prime() -> dict[str, Setting]:
    return {"topk_prime": Setting(5, "k′: candidates taken from the second embedding space (2Q, cross-modal)",
                                  minimum=1)}


class MeanShift(DenseModel):
    """MSF (unconstrained); the variants override :meth:`rule`. The scored model (backbone and
    linear head) is stored whole."""

    name = "msf"
    family = "representation learning"
    paper = papers.MSF
    requires = (ImageClassification, AugmentedViews)
    settings = {**COMMON, **_topk(5)}
    reported = (*_paper(MSF_TABLE_1, "MSF w/s (weak target, strong query; k = 5)", 72.4, 62.0, 64.9, {"topk": 5}),
                _few_labels(MSF_TABLE_2, "MSF w/s (k = 5)", 0.01, 55.5, {"topk": 5}),
                _few_labels(MSF_TABLE_2, "MSF w/s (k = 5)", 0.1, 66.5, {"topk": 5}))

    def rule(self, task: Task, config: Config, ctx: FitContext) -> NeighbourRule:
        return NeighbourRule()

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        return self.stored_outcome(task, *fit_mean_shift(task, config, ctx, self.rule(task, config, ctx),
                                                         k=config["topk"]))


class Byol(MeanShift):
    name = "byol"
    family = "representation learning"
    paper = None
    settings = dict(COMMON)
    reported = _paper(MSF_TABLE_1, "BYOL-asym", 69.3, 55.0, 59.2)

    def rule(self, task: Task, config: Config, ctx: FitContext) -> NeighbourRule:
        return OwnTarget()

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        return self.stored_outcome(task, *fit_mean_shift(task, config, ctx, self.rule(task, config, ctx), k=1,
                                                         report_purity=False))


class ConstrainedMeanShift(MeanShift):
    name = "cmsf"
    family = "representation learning"
    paper = papers.CMSF
    settings = {
        **COMMON, **_topk(5), **_topk_prime(),
        "constraint": Setting("2q", "where neighbours may come from: the k′ nearest by the previous embeddings "
                                    "(2q) or the same k-means cluster (km)", choices=("2q", "km")),
        "clusters": Setting(PerPreset(8, 50, 50_000), "k-means clusters (constraint=km)", minimum=1),
    }
    reported = (
        *_paper(CMSF_TABLE_1, "CMSF-2Q (CMSF_self): neighbours among the k′ = 5 nearest by the previous "
                "embeddings, k = 5", 73.0, 63.2, 66.4, {"constraint": "2q", "topk": 5, "topk_prime": 5}),
        *_paper(CMSF_KM_TABLE_1, "CMSF-KM: neighbours within the same of 50,000 k-means clusters, k = 5",
                72.9, 63.2, 66.2, {"constraint": "km", "clusters": 50_000, "topk": 5}),
        _few_labels(CMSF_TABLE_4, "CMSF-2Q (CMSF_self, k = 5, k′ = 5)", 0.01, 56.4,
                    {"constraint": "2q", "topk": 5, "topk_prime": 5}),
        _few_labels(CMSF_TABLE_4, "CMSF-2Q (CMSF_self, k = 5, k′ = 5)", 0.1, 67.5,
                    {"constraint": "2q", "topk": 5, "topk_prime": 5}),
    )

    def rule(self, task: Task, config: Config, ctx: FitContext) -> NeighbourRule:
        return TwoQueues(config["topk_prime"]) if config["constraint"] == "2q" else SameCluster(config["clusters"])

    def memory_needs(self, task: Task, config: Config) -> list[MemoryNeed]:
        """CMSF-KM's k-means: its distance block (the largest of any device's) and four copies of
        the centres (the centres, their sums, the assignment's transposed copy and its squares'
        temporary; measured 0.195 GiB above the points at 50,000 × 512 on CPU), of the projection's width where the task's network sketch gives it. The
        pooled embeddings are the data's (one per training image), unknown before it is prepared."""
        if config["constraint"] != "km":
            return []
        needs = [MemoryNeed(max(CHUNK_BYTES.values()), "the k-means distance block", "clusters")]
        width = getattr(network_sketch(task), "num_features", None)
        if width:
            projection = projection_width(width)
            needs.append(MemoryNeed(4 * 4 * config["clusters"] * projection,
                                    f"{config['clusters']} k-means centres × {projection}, four times", "clusters"))
        return needs


class SupervisedCMSF(MeanShift):
    name = "cmsf-sup"
    family = "representation learning"
    paper = papers.CMSF
    settings = {**COMMON, **_topk(10)}
    reported = (ReportedFigure("imagenet", "linear-probe/probe_top1", 76.4,
                               f"CMSF_sup top-10 (neighbours share the query's label, k = 10); {R50}; every "
                               "training label clean; linear evaluation on ImageNet-1k", CMSF_TABLE_2,
                               {**BUDGET, **ALL_LABELS, "topk": 10}),)

    def rule(self, task: Task, config: Config, ctx: FitContext) -> NeighbourRule:
        return SameLabel()


class SemiSupervisedCMSF(MeanShift):
    name = "cmsf-semi"
    family = "representation learning"
    paper = papers.CMSF
    settings = {
        **COMMON, **_topk(10),
        "confidence": Setting(0.85, "softmax confidence a pseudo-label needs to constrain", minimum=0, maximum=1),
        "pseudo_epochs": Setting(10, "epochs of each training round of the pseudo-labelling MLP", minimum=1),
    }
    reported = (ReportedFigure("imagenet", "linear-probe/probe_top1", 69.9,
                               f"CMSF_semi (k = 10, pseudo-labels at confidence 0.85); {R50}; 10% of the "
                               "training labels", CMSF_TABLE_6,
                               {**BUDGET, "task.labelled_fraction": 0.1, "topk": 10, "confidence": 0.85}),)

    def rule(self, task: Task, config: Config, ctx: FitContext) -> NeighbourRule:
        return ConfidentPseudoLabel(task.num_classes, config["confidence"], config["pseudo_epochs"])


class CrossModalCMSF(MeanShift):
    """The constraint comes from a frozen encoder of another modality of the same images (the
    paper pairs RGB video with optical flow): ``other`` is a BYOL run on the task's second
    modality — ``flow`` at ``--preset paper`` (the paper's ``video`` task), the images tasks'
    ``edges`` at the smaller presets — whose encoder embeds every training image once. It runs
    on the tasks that have a second modality of the same instances (a ``task.modality`` choice)."""

    name = "cmsf-xmodal"
    family = "representation learning"
    paper = papers.CMSF
    settings = {
        **COMMON, **_topk(5), **_topk_prime(),
        "other": RunReference(PerPreset("byol:task.modality=edges", "byol:task.modality=edges",
                                        "byol:task.modality=flow"),
                              "the frozen encoder of the other modality: a run reference (a method on another "
                              "task.modality, or a run key)"),
    }
    reported = ()

    def unsupported_reason(self, task: Task) -> str | None:
        modality = type(task).settings.get("modality")
        if modality is None or len(modality.choices or ()) < 2:
            return "needs a task with a second modality of the same instances (a task.modality setting, as video's flow)"
        return None

    def rule(self, task: Task, config: Config, ctx: FitContext) -> NeighbourRule:
        (other,) = ctx.references["other"]
        problem = (f"cmsf-xmodal: other={config['other']!r} must be an encoder run on every training image of this "
                   "task (same classes, split and labelled_fraction 1, another modality)")
        if other.encoder is None or not isinstance(other.task, AugmentedViews) or other.task.num_train != task.num_train:
            raise UcdbenchError(problem)
        embeddings, _, index = labelled_features(other.encoder.to(ctx.device), other.task, "train", ctx.device)
        if not torch.equal(index.sort().values, torch.arange(task.num_train)):
            raise UcdbenchError(problem)
        by_index = torch.empty_like(embeddings)
        by_index[index] = embeddings
        return OtherModality(by_index, config["topk_prime"])
