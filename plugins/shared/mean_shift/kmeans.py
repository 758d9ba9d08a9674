"""k-means of the pooled target embeddings, for CMSF-KM's same-cluster constraint.

The official code clusters the latest target embedding of every training image after each
epoch with faiss (``faiss_kmeans`` in ``self_supervised/train_msf_km.py`` of UCDvision/CMSF:
L2, 20 iterations); this is Lloyd's algorithm with the same distance and iteration count, its
first centres drawn without replacement from a seeded generator. A centre that loses every
point stays where it was. Points are assigned in blocks
(:func:`ucdbench_plugins.shared.nearest_centroid.assign`, CompGS's assignment too), so the
N × K distance matrix is never held: at 1.28M images × 50,000 clusters it would be 256 GB.
"""

from __future__ import annotations

import torch

from ucdbench_plugins.shared.nearest_centroid import assign


def kmeans(points: torch.Tensor, clusters: int, generator: torch.Generator, iterations: int = 20) -> torch.Tensor:
    """The cluster of each point (N,), of ``min(clusters, N)`` clusters."""
    clusters = min(clusters, len(points))
    centres = points[torch.randperm(len(points), generator=generator)[:clusters].to(points.device)].clone()
    for _ in range(iterations):
        assignment = assign(points, centres)
        sums = torch.zeros_like(centres).index_add_(0, assignment, points)
        counts = torch.bincount(assignment, minlength=clusters).to(points.dtype)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    return assign(points, centres)
