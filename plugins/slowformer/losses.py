"""SlowFormer's objectives per target (minimised by the patch optimiser; PAPERS.md §5).

- A-ViT: A-ViT's own regulariser with the ponder weight negated, −5e-4 · ρ + 1e-3 · KL term:
  a larger ponder cost means tokens halt later. As in the official attack
  (UCDvision/SlowFormer ``avit/engine_act.py``, ``train_one_epoch``; weights from ``avit/run.sh``)
  the KL term keeps the target's own distributional prior, not one centred on the last block.
- ATS: Σ_i c_i · mean (A_cls,i − 1/N)² with c = [1, .2, .05, .01, .005, .005, .005]: a flat
  class attention makes the significance uniform, so inverse-transform sampling keeps every
  token.
"""

from __future__ import annotations

from typing import Any

import torch

from ucdbench_plugins.adaptive_vit.ats import ATS
from ucdbench_plugins.adaptive_vit.avit import AViT
from ucdbench_plugins.adaptive_vit.tokens import AdaptiveViT

AVIT_PONDER_WEIGHT = 5e-4
AVIT_PRIOR_WEIGHT = 1e-3
ATS_STAGE_WEIGHTS = (1.0, 0.2, 0.05, 0.01, 0.005, 0.005, 0.005)


def compute_loss(model: AdaptiveViT, stats: dict[str, Any]) -> torch.Tensor:
    """The attack objective for ``model``'s kind, from its masked-path statistics."""
    if isinstance(model, AViT):
        return model.regulariser(stats, -AVIT_PONDER_WEIGHT, AVIT_PRIOR_WEIGHT)
    if isinstance(model, ATS):
        weights = ATS_STAGE_WEIGHTS + (ATS_STAGE_WEIGHTS[-1],) * max(0, len(model.stages) - len(ATS_STAGE_WEIGHTS))
        return model.uniformity_loss(stats, weights)
    raise TypeError(f"SlowFormer has no objective for {type(model).__name__}")
