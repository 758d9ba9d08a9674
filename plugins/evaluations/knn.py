"""kNN: how well a run's representation separates the task's classes without training anything.

The eval split's images are the queries, the (labelled) training split the bank, both through
the run's encoder (:func:`ucdbench.api.encoder_of`: the one its outcome names, else what the
scored model's classifier head receives); features are L2-normalised and each query takes the
majority label of its k nearest, for k = 1 and k = 20 — the papers' 1-NN and 20-NN
(:mod:`ucdbench_plugins.shared.representation`). Clean labels on both sides: a label-noise
setting corrupts only what methods train with. The search runs on the run's device in blocks of
``query_block`` × ``bank_block`` similarities, so memory stays bounded at ImageNet's 50,000 ×
1.28M (the bank stays on the host, moved a block at a time, when the device cannot hold it twice).
"""

from __future__ import annotations

from typing import Any

import torch

from ucdbench.api import ArtifactKind, Config, Evaluation, EvaluationContext, MemoryNeed, Metric, Setting, Task
from ucdbench_plugins.shared.representation import (
    BANK_BLOCK, QUERY_BLOCK, VOTES, knn_top1, representation_skip_reason, search_block_bytes, split_features,
)

NEIGHBOURS = (1, 20)


class KNN(Evaluation):
    name = "knn"
    measures = frozenset(ArtifactKind) - {ArtifactKind.INPUT_TRANSFORM}
    """Not an attack's patch: the model it scores is its target's, measured on the target's row."""
    figures = (
        Metric("nn1_top1", True, "%", "1-NN top-1 on the eval split, the training split as the bank", headline=True),
        Metric("nn20_top1", True, "%", "20-NN top-1 (majority of the 20 nearest; weighted with vote=weighted)"),
    )
    settings = {
        "vote": Setting("majority", "how the k nearest decide: their majority label (the papers' eval code) or a "
                                    "vote weighted by exp(cos / temperature)", choices=VOTES),
        "temperature": Setting(0.04, "temperature of the weighted vote", minimum=0, exclusive_minimum=True),
        "query_block": Setting(QUERY_BLOCK, "queries searched at once; with bank_block it bounds the similarity "
                                            "block held (4 · query_block · bank_block bytes)", minimum=1),
        "bank_block": Setting(BANK_BLOCK, "bank rows each query block is compared with at once", minimum=1),
    }

    def skip_reason(self, ctx: EvaluationContext) -> str | None:
        return representation_skip_reason(ctx)

    def memory_needs(self, task: Task, config: Config) -> list[MemoryNeed]:
        """The search's blocks (:func:`search_block_bytes`); the feature bank's size is the data's,
        unknown before the task is prepared, and it is kept on the host where the device cannot
        hold it."""
        q, b = config["query_block"], config["bank_block"]
        return [MemoryNeed(search_block_bytes(q, b, max(NEIGHBOURS)), f"similarity blocks of {q} queries × {b} bank "
                           "rows with their running best and masks", "bank_block")]

    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        bank, bank_labels = split_features(ctx, "train")
        queries, labels = split_features(ctx, "eval")
        blocks = {"query_block": ctx.config["query_block"], "bank_block": ctx.config["bank_block"]}
        queries, held_bank = queries.to(ctx.device), _on_device_if_it_fits(bank, ctx.device)
        results: dict[str, Any] = {f"nn{k}_top1": knn_top1(held_bank, bank_labels, queries, labels, k, ctx.config["vote"],
                                                            ctx.config["temperature"], **blocks) for k in NEIGHBOURS}
        results["feature_dim"] = int(bank.shape[1])
        results["bank_size"] = int(bank.shape[0])
        return results


def _on_device_if_it_fits(bank: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``bank`` on ``device`` where the device has room for it twice (it and its normalised copy),
    else left on the host, to be moved a block at a time."""
    if device.type == "cuda" and torch.cuda.mem_get_info(device)[0] < 2 * bank.nbytes + 2**30:
        return bank
    return bank.to(device)
