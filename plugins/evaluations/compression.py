"""Compression: what the artifact costs to store, against the task's base model in fp32.

``size_percent`` is the artifact's bytes as a share of the base model's fp32 bytes (what MCNC
and PRANC call "model size"); ``scalars_percent`` the stored values as a share of the base
model's parameters (what NOLA and LoRA count as "trainable parameters"). For adapter methods
the base model's fp32 bytes are also what a full fine-tune stores, so ``compression_ratio`` is
the saving against a full fine-tune.
"""

from __future__ import annotations

from typing import Any

from ucdbench.api import ArtifactKind, ChartAxis, Evaluation, EvaluationContext, FigureKind, Metric


class Compression(Evaluation):
    name = "compression"
    measures = frozenset({ArtifactKind.MODEL, ArtifactKind.ADAPTER, ArtifactKind.SCENE})
    """What stores a model or a scene: an attack's patch or an augmentation recipe compresses nothing."""
    figures = (  # tables rank by the first: bytes on disk, what storage costs whatever a number's width
        Metric("artifact_bytes", False, "B", "size of the artifact file on disk", headline=True, kind=FigureKind.EXACT,
               chart=ChartAxis("storage", "stored bytes (artifact file)", "{y} against stored bytes",
                               log_scale=True, saving="size_percent", saves_below=100.0)),
        Metric("stored_scalars", False, "scalars", "numbers in the artifact (dense ones included)", headline=True,
               kind=FigureKind.EXACT),
        Metric("size_percent", False, "%", "artifact bytes / fp32 bytes of the task's base model",
               kind=FigureKind.EXACT),
        Metric("compression_ratio", True, "×", "fp32 bytes of the task's base model / artifact bytes",
               kind=FigureKind.EXACT),
    )

    def skip_reason(self, ctx: EvaluationContext) -> str | None:
        return None if ctx.outcome.artifact is not None else "the method stores no artifact"

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        artifact = ctx.outcome.artifact
        artifact_bytes = ctx.artifact_path.stat().st_size
        base_params = sum(p.numel() for p in ctx.task.base_model(pretrained=False).parameters())
        base_bytes = 4 * base_params
        stored = artifact.stored_scalars()
        return {
            "artifact_bytes": artifact_bytes,
            "stored_scalars": stored,
            "dense_scalars": artifact.dense_scalars(),
            "base_params": base_params,
            "base_bytes_fp32": base_bytes,
            "size_percent": 100.0 * artifact_bytes / base_bytes,
            "scalars_percent": 100.0 * stored / base_params,
            "compression_ratio": base_bytes / artifact_bytes,
        }
