"""The public API of ucdbench: everything a plugin needs, and the only module plugins import.

Built-in plugins import from here (and from ``ucdbench`` itself for ``hookimpl``) exactly as a
third-party package would; a test fails if one reaches into another module of the harness.
Everything not listed in ``__all__`` is internal and may change without notice.

The interfaces and settings are plain Python; the helpers that need torch (training, artifacts,
FLOPs, timing, caching, model state) are imported on first use, so that a plugin's
registration module can ``from ucdbench.api import ...`` types without importing torch.

Groups:

- **Hooks**: :data:`hookimpl`, :class:`Register`.
- **Interfaces** (subclass them): :class:`Method`, :class:`Task`, :class:`Evaluation`,
  :class:`Hardware`, :class:`EnergyMeter`, :class:`Sink` (with the :class:`SinkRun` it receives); what flows between them: :class:`Outcome`,
  :class:`Artifact`, :class:`FitContext` (with its :class:`Curves`: per-epoch values the record keeps), :class:`EvaluationContext`, :data:`Config`,
  :data:`Reconstruct`, :class:`ReferencedRun` (a run this run consumes), :class:`MemoryNeed` (the
  memory a plugin's settings hold, checked before runs start); figures: :class:`Metric`
  (with its :class:`FigureKind`: how it may be compared, and its :class:`ChartAxis`: a
  leaderboard chart plotted against it), :class:`ReportedFigure`; errors:
  :class:`UcdbenchError` (the user's to fix: exit 2), :class:`DivergedError`.
- **Settings**: :class:`Setting`, :class:`PerPreset`, :class:`PerTask`, :data:`PRESETS`, :class:`RunReference` (a
  setting naming runs whose artifacts this run consumes, resolved by the runner).
- **Task capabilities** (a task subclasses those it offers; a method lists those it needs in
  ``requires``): :class:`ImageClassification`, :class:`LanguageModeling`,
  :class:`SceneReconstruction`, :class:`AugmentedViews` (with its :class:`ViewBatch` and
  :class:`LabelledBatch`),
  :class:`FewShotClassification`, their base :class:`Capability`.
- **Training and artifacts**: :func:`train`, :class:`EpochCurve` (per-epoch curves from a loop of
  your own), :func:`dense_artifact`, :func:`expand_dense`,
  :func:`read_artifact`, :func:`dense_model_outcome`.
- **Model state** (what reconstruction must rebuild): :func:`persistent_buffers`,
  :func:`stored_dense`, :func:`state_with`, :func:`model_with_state`, :func:`initial_model`,
  :func:`pretrained_base`, :func:`held_base`, :func:`encoder_of` (a run's representation).
- **Measuring**: :func:`count_flops` (FLOPs of one call, real shapes), :data:`FLOPS_CONVENTION`,
  :func:`time_repeats` (synchronised timings through a Hardware), :func:`time_calls` and its
  :class:`TimedCalls` (both of a Hardware's clocks, and the raw samples to keep), :func:`percentile`.
- **Data and caching**: :func:`shuffled_batches`, :func:`progress_bar`, :func:`cached_tensors`
  (in-suite builds keyed by config and code), :func:`config_key`.
- **Rebuilding runs** (what a user holding only a run's files does): :func:`rebuild_run` (a
  record → its prepared task and scored model, rebuilt from the artifact file),
  :func:`rebuild_model` (a method's model from an artifact file and a task).
- **Statistics** (the ones leaderboards and ``ucdbench compare`` use): :func:`mean_ci` (mean
  over seeds with its t interval), :func:`paired_comparison` (two rows, seed by seed),
  :func:`slowdown_test` (raw timing samples, asv's rule).
- **Registry** (for scripts and benchmarks that run outside ``ucdbench run``):
  :func:`load_registry`; :func:`git_commit` (the project commit a page names) and
  :func:`timed_phase` (the machine lock a timing holds, as ``ucdbench run``'s timed measurements do).
"""

from __future__ import annotations

import importlib
from typing import Any

from ucdbench.contracts.capabilities import (
    AugmentedViews, Capability, FewShotClassification, ImageClassification, LabelledBatch, LanguageModeling,
    SceneReconstruction, ViewBatch,
)
from ucdbench.discovery.hookspecs import Register, hookimpl
from ucdbench.contracts.interfaces import (
    Artifact, ArtifactKind, ChartAxis, Config, ControlRow, Curves, DivergedError, EnergyMeter, Evaluation, EvaluationContext, FigureKind, FitContext, Hardware,
    MemoryNeed, Method, Metric, Outcome, Paper, Reconstruct, ReferencedRun, ReportedFigure, Task, UcdbenchError,
)
from ucdbench.contracts.settings import PRESETS, PerPreset, PerTask, RunReference, Setting
from ucdbench.contracts.sinks import Sink, SinkRun

_LAZY = {
    "train": "ucdbench.running.training",
    "EpochCurve": "ucdbench.running.training",
    "dense_artifact": "ucdbench.running.artifacts",
    "expand_dense": "ucdbench.running.artifacts",
    "read_artifact": "ucdbench.running.artifacts",
    "dense_model_outcome": "ucdbench.running.artifacts",
    "persistent_buffers": "ucdbench.contracts.state",
    "stored_dense": "ucdbench.contracts.state",
    "state_with": "ucdbench.contracts.state",
    "model_with_state": "ucdbench.contracts.state",
    "initial_model": "ucdbench.contracts.state",
    "pretrained_base": "ucdbench.contracts.state",
    "held_base": "ucdbench.contracts.state",
    "encoder_of": "ucdbench.contracts.state",
    "count_flops": "ucdbench.running.flops",
    "FLOPS_CONVENTION": "ucdbench.running.flops",
    "time_repeats": "ucdbench.running.timing",
    "time_calls": "ucdbench.running.timing",
    "TimedCalls": "ucdbench.running.timing",
    "percentile": "ucdbench.running.timing",
    "shuffled_batches": "ucdbench.running.batching",
    "progress_bar": "ucdbench.running.progress",
    "cached_tensors": "ucdbench.running.cache",
    "config_key": "ucdbench.running.cache",
    "load_registry": "ucdbench.discovery.registry",
    "git_commit": "ucdbench.running.environment",
    "timed_phase": "ucdbench.running.machine_lock",
    "rebuild_run": "ucdbench.running.rebuild",
    "rebuilt_scores": "ucdbench.running.rebuild",
    "rebuild_model": "ucdbench.running.rebuild",
    "mean_ci": "ucdbench.core.stats",
    "paired_comparison": "ucdbench.core.stats",
    "slowdown_test": "ucdbench.core.stats",
}
"""Names imported on first use (most of their modules import torch), and where they live."""

_RENAMED = {"FLOPS_CONVENTION": "CONVENTION"}

__all__ = [
    "hookimpl", "Register",
    "Method", "Task", "Evaluation", "Hardware", "EnergyMeter", "Outcome", "Artifact", "ArtifactKind", "ControlRow", "FitContext", "Curves", "Sink", "SinkRun",
    "EvaluationContext", "Config", "Reconstruct", "Metric", "FigureKind", "ChartAxis", "ReportedFigure", "Paper", "UcdbenchError",
    "DivergedError", "ReferencedRun", "MemoryNeed",
    "Setting", "PerPreset", "PerTask", "PRESETS", "RunReference",
    "Capability", "ImageClassification", "LanguageModeling", "SceneReconstruction", "AugmentedViews", "ViewBatch",
    "LabelledBatch", "FewShotClassification",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), _RENAMED.get(name, name))
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ucdbench.api' has no attribute {name!r}; the public API is ucdbench.api.__all__")


def __dir__() -> list[str]:
    return sorted(__all__)
