"""SlowFormer's objectives per target (minimised by the patch optimiser; PAPERS.md §5).

- A-ViT: A-ViT's own regulariser with the ponder weight negated, −5e-4 · ρ + 1e-3 · KL term:
  a larger ponder cost means tokens halt later. As in the official attack
  (UCDvision/SlowFormer ``avit/engine_act.py``, ``train_one_epoch``; weights from ``avit/run.sh``)
  the KL term keeps the target's own distributional prior, not one centred on the last block.
- ATS: Σ_i c_i · mean_batch Σ_heads Σ_patch slots (A_cls,j − 1/(S_i − 1))² over ATS stage i
  (class-token key excluded; :meth:`ATS.uniformity_loss`): a flat class attention makes the
  significance uniform, so sampling keeps every token. c = [1, .2, .05, .01, .005, .005, .005]
  is the official list (UCDvision/SlowFormer AdaptiveTokenSampling/engine.py,
  ``train_one_epoch``), c_i for the i-th ATS stage in block order as there. It fits at most 7
  stages — the official loop fails past that — so a target with more is an error, never padded
  (:func:`check_target`, before the target is fitted); slowformer's ``target_settings`` gives
  the target fewer stages.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from ucdbench.api import UcdbenchError
from ucdbench_plugins.shared.adaptive_vit.ats import ATS
from ucdbench_plugins.shared.adaptive_vit.avit import AViT
from ucdbench_plugins.shared.adaptive_vit.tokens import AdaptiveViT

AVIT_PONDER_WEIGHT = 5e-4
AVIT_PRIOR_WEIGHT = 1e-3
ATS_STAGE_WEIGHTS = (1.0, 0.2, 0.05, 0.01, 0.005, 0.005, 0.005)


def ats_stage_weights(stages: tuple[int, ...]) -> tuple[float, ...]:
    """SlowFormer's weight for each ATS stage, in block order (the first ``len(stages)`` of the list)."""
    if len(stages) > len(ATS_STAGE_WEIGHTS):
        fewer = json.dumps({"stages": list(stages[:len(ATS_STAGE_WEIGHTS)])})
        raise UcdbenchError(
            f"slowformer: the ATS objective has {len(ATS_STAGE_WEIGHTS)} per-stage weights (official "
            f"engine.py loss_coef) but the target has {len(stages)} ATS stages (blocks {list(stages)}); "
            f"attack an ATS model with at most {len(ATS_STAGE_WEIGHTS)} stages by giving the target's own "
            f"'stages' setting through slowformer's target_settings, e.g. --set 'target_settings={fewer}'")
    return ATS_STAGE_WEIGHTS[:len(stages)]


def check_target(model: AdaptiveViT) -> None:
    """Raise the stage-count error :func:`compute_loss` would raise on ``model``, before
    anything trains."""
    if isinstance(model, ATS):
        ats_stage_weights(model.stages)


def compute_loss(model: AdaptiveViT, stats: dict[str, Any]) -> torch.Tensor:
    """The attack objective for ``model``'s kind, from its masked-path statistics."""
    if isinstance(model, AViT):
        return model.regulariser(stats, -AVIT_PONDER_WEIGHT, AVIT_PRIOR_WEIGHT)
    if isinstance(model, ATS):
        return model.uniformity_loss(stats, ats_stage_weights(model.stages))
    raise TypeError(f"SlowFormer has no objective for {type(model).__name__}")
