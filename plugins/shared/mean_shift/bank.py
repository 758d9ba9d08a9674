"""The memory bank: a first-in-first-out queue of the latest target embeddings.

As the official ``_dequeue_and_enqueue`` (UCDvision/CMSF, ``self_supervised/train_msf_2q.py``):
the bank starts as random unit vectors with label and instance index -1, each batch's target
embeddings overwrite the oldest entries at a moving pointer (before neighbours are searched,
so a query's own target is in the bank: with k = 1 mean shift is BYOL), with their training
labels, clean labels (for purity only) and instance indices. The official code requires the
bank size to be a multiple of the batch size; here a batch that runs past the end wraps round.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class MemoryBank:
    def __init__(self, size: int, dim: int, generator: torch.Generator, device: torch.device) -> None:
        self.size = size
        self.embeddings = F.normalize(torch.randn(size, dim, generator=generator), dim=1).to(device)
        self.labels = torch.full((size,), -1, dtype=torch.long, device=device)
        self.true_labels = torch.full((size,), -1, dtype=torch.long, device=device)
        self.index = torch.full((size,), -1, dtype=torch.long, device=device)
        self.pointer = 0

    @torch.no_grad()
    def enqueue(self, embeddings: torch.Tensor, labels: torch.Tensor, true_labels: torch.Tensor,
                index: torch.Tensor) -> torch.Tensor:
        """Write a batch over the oldest entries; returns the slots written, in batch order."""
        slots = (self.pointer + torch.arange(len(embeddings), device=self.embeddings.device)) % self.size
        self.embeddings[slots] = embeddings
        self.labels[slots] = labels
        self.true_labels[slots] = true_labels
        self.index[slots] = index
        self.pointer = int((self.pointer + len(embeddings)) % self.size)
        return slots
