"""Shuffled mini-batch indices: the one batching rule every built-in task trains with."""

from __future__ import annotations

from collections.abc import Iterator

import torch


def shuffled_batches(n: int, batch_size: int, epochs: float, seed: int) -> Iterator[torch.Tensor]:
    """Index batches for ``epochs`` passes over ``n`` items (a fractional last pass is allowed);
    each pass visits every item once in an order drawn from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.empty(0, dtype=torch.long)
    for _ in range(max(1, round(epochs * n / batch_size))):
        if len(order) < batch_size:
            order = torch.cat([order, torch.randperm(n, generator=generator)])
        idx, order = order[:batch_size], order[batch_size:]
        yield idx
