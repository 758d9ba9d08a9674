"""SimReg — regression for self-supervised distillation (BMVC 2021, arXiv 2201.05131).

A frozen teacher (any run with a representation: ``teacher`` is a run reference, by default
BYOL on the same task at twice the width) and a student with the task's architecture trained
from scratch. The student's features go through a prediction head to the teacher's feature
size; the loss is 2 − 2·cos(head(student(x)), teacher(x)) on the *same* weakly augmented image
(``--single_aug --weak_weak`` in the official ``run.sh``), averaged over teachers when there
are several (one head each). The head is dropped after training.

The head follows the official code (``get_mlp`` in ``mlp_arch.py`` of UCDvision/simreg with
``n_mlp_layers=4``): Linear d→2d, BN, ReLU, Linear 2d→d, Linear d→2d, BN, ReLU, Linear
2d→D_teacher — no BN or ReLU after the second layer (the code's ``i != 1``). ``head=linear`` is
the paper's baseline without the MLP: the official ``get_linear_proj`` (BN, Linear d→D_teacher;
the code passes an undefined ``proj_dim`` there, which can only mean the student's d).
Optimiser as the official ``main.py``: SGD lr 0.05, momentum 0.9, weight decay 1e-4, cosine
per epoch, 130 epochs at ``paper``. The teacher runs in eval mode (``encoder_t.eval()``).

What is scored: the student with a linear probe as its head (as the mean-shift methods).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ucdbench.api import (
    AugmentedViews, Config, EpochCurve, FitContext, ImageClassification, Outcome, PerPreset, ReferencedRun, ReportedFigure,
    RunReference, Setting, Task, UcdbenchError, ViewBatch,
)
from ucdbench_plugins.shared import papers
from ucdbench_plugins.shared.mean_shift.networks import feature_dim
from ucdbench_plugins.shared import epoch_sgd
from ucdbench_plugins.shared.method_settings import training_settings
from ucdbench_plugins.shared.outcome import DenseModel
from ucdbench_plugins.shared.reported import ALL_LABELS, FULL_IMAGENET, SIMREG_TABLE_3, SIMREG_TABLE_4
from ucdbench_plugins.shared.representation import sample_images, with_linear_probe

HEADS = ("mlp", "linear")
STUDENT = {"task.model": "resnet18", "head": "mlp", "epochs": 130, **FULL_IMAGENET, **ALL_LABELS}
"""The papers' distillation: a ResNet-18 student with the 4-layer MLP head, 130 epochs, all of ImageNet."""
METRICS = {"knn/nn1_top1": "1-NN (nearest neighbour)", "knn/nn20_top1": "20-NN",
           "linear-probe/probe_top1": "linear evaluation"}


def _paper(source: str, teacher: str, teacher_setting: str, figures: dict[str, float]) -> tuple[ReportedFigure, ...]:
    """One teacher's row: ``figures`` by metric, beside runs whose ``teacher`` setting is
    ``teacher_setting`` (a run reference to that teacher) only."""
    setting = (f"ImageNet (all 1.28M images, 224 px), {teacher} teacher → ResNet-18 student, SimReg-4L-MLP head, "
               "130 epochs")
    return tuple(ReportedFigure("imagenet", metric, value, f"{setting}; {METRICS[metric]}", source,
                                {**STUDENT, "teacher": teacher_setting}) for metric, value in figures.items())



def prediction_head(kind: str, dim: int, out_dim: int) -> nn.Sequential:
    """SimReg's 4-layer MLP head (``mlp``) or the linear baseline's (``linear``)."""
    if kind == "linear":
        return nn.Sequential(nn.BatchNorm1d(dim), nn.Linear(dim, out_dim))
    return nn.Sequential(nn.Linear(dim, 2 * dim), nn.BatchNorm1d(2 * dim), nn.ReLU(inplace=True),
                         nn.Linear(2 * dim, dim),
                         nn.Linear(dim, 2 * dim), nn.BatchNorm1d(2 * dim), nn.ReLU(inplace=True),
                         nn.Linear(2 * dim, out_dim))


def regression_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of 2 − 2·cos(prediction, target) (both L2-normalised)."""
    return (2 - 2 * (F.normalize(prediction, dim=1) * F.normalize(target, dim=1)).sum(dim=1)).mean()


class SimReg(DenseModel):
    name = "simreg"
    family = "distillation"
    paper = papers.SIMREG
    requires = (ImageClassification, AugmentedViews)
    settings = {
        **training_settings(epochs=PerPreset(1, 30, 130), batch_size=PerPreset(64, 128, 256), lr=0.05,
                            weight_decay=1e-4, optimiser="sgd"),
        "teacher": RunReference(PerPreset("byol:task.width=64", "byol:task.width=128", "byol"),
                                "the frozen teacher(s): run references (a method with its settings, "
                                "'byol:task.width=128', or a run key); a JSON list distils several, losses averaged",
                                many=True),
        "head": Setting("mlp", "the student's prediction head: SimReg's 4-layer MLP, or the linear baseline",
                        choices=HEADS),
    }
    reported = (
        *_paper(SIMREG_TABLE_3, "MoCo-v2 ResNet-50", "mocov2-resnet50 (no method here trains MoCo-v2)",
                {"knn/nn1_top1": 54.8, "linear-probe/probe_top1": 65.1}),
        *_paper(SIMREG_TABLE_4, "BYOL ResNet-50", "byol:task.model=resnet50",
                {"knn/nn1_top1": 56.7, "knn/nn20_top1": 61.6, "linear-probe/probe_top1": 66.8}),
    )

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        teachers = ctx.references["teacher"]
        self._check_teachers(task, config, teachers)
        device = ctx.device
        torch.manual_seed(ctx.seed)
        model = task.base_model(pretrained=False).to(device)
        student = task.encoder(model)
        sample = sample_images(task).to(device)
        dim = feature_dim(student, sample)
        encoders = [teacher.encoder.to(device).eval() for teacher in teachers]
        heads = nn.ModuleList(prediction_head(config["head"], dim, feature_dim(encoder, sample))
                              for encoder in encoders).to(device)
        head_names = set(task.head_parameters(model))
        params = [p for name, p in model.named_parameters() if name not in head_names] + list(heads.parameters())
        optimizer = epoch_sgd.sgd(params, config["lr"], config["weight_decay"])
        epochs, batch_size = config["epochs"], config["batch_size"]
        steps_per_epoch = max(1, round(task.num_train / batch_size))
        total = max(1, round(epochs * task.num_train / batch_size))
        model.train()
        heads.train()
        losses: list[float] = []
        curve = EpochCurve(ctx.curves, "train_loss", total, epochs)
        for step, batch in enumerate(ctx.progress(task.view_batches(batch_size, epochs), desc="train simreg",
                                                  total=total)):
            if step % steps_per_epoch == 0:
                losses = []
                epoch_sgd.start_epoch(optimizer, config["lr"], step // steps_per_epoch, epochs)
            x = ViewBatch(*batch).weak.to(device)
            features = student(x)
            with torch.no_grad():
                targets = [encoder(x) for encoder in encoders]
            loss = sum(regression_loss(head(features), target) for head, target in zip(heads, targets)) / len(heads)
            losses.append(epoch_sgd.step(optimizer, loss, step))
            curve.add(step, losses[-1])
        metrics = {"train_loss": sum(losses) / max(1, len(losses)), "train_steps": float(total)}
        teacher_nn1 = [t.record.get("evaluations", {}).get("knn", {}).get("nn1_top1") for t in teachers]
        if all(isinstance(value, float) for value in teacher_nn1):
            metrics["teacher_nn1_top1"] = sum(teacher_nn1) / len(teacher_nn1)
        return self.stored_outcome(task, with_linear_probe(task, model, device), metrics)

    @staticmethod
    def _check_teachers(task: Task, config: Config, teachers: list[ReferencedRun]) -> None:
        for teacher in teachers:
            if teacher.encoder is None or getattr(teacher.task, "num_train", None) != task.num_train:
                raise UcdbenchError(f"simreg: teacher {teacher.method} ({teacher.key}) must have a representation and "
                                    "train on the same images as the student (same classes and split); "
                                    f"teacher={config['teacher']!r}")
