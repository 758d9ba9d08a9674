"""Lloyd's k-means, vectorised for the sizes 3DGS needs (millions of points, thousands of
centroids) on CPU or GPU.

The assignment step is the shared blocked one
(:func:`ucdbench_plugins.shared.nearest_centroid.assign`: never the full N × K distance
matrix). The update step is a scatter-add of members and a bincount; an empty cluster keeps
its centroid.
"""

from __future__ import annotations

import torch

from ucdbench_plugins.shared.nearest_centroid import assign


def centroid_means(points: torch.Tensor, labels: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """Mean of each cluster's members; clusters without members keep ``previous``."""
    k = previous.shape[0]
    sums = torch.zeros_like(previous).index_add_(0, labels, points)
    counts = torch.bincount(labels, minlength=k).to(points.dtype)
    return torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], previous)


def initial_centroids(points: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """``k`` distinct points drawn at random (the paper's initialisation)."""
    if k > points.shape[0]:
        raise ValueError(f"cannot draw {k} centroids from {points.shape[0]} points; use a smaller codebook")
    index = torch.randperm(points.shape[0], generator=generator)[:k].to(points.device)
    return points[index].clone()


def kmeans(
    points: torch.Tensor,
    centroids: torch.Tensor,
    iterations: int,
    chunk_bytes: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``iterations`` Lloyd steps from ``centroids`` (a warm start or
    :func:`initial_centroids`) → (centroids (K, D), labels (N,) of the returned centroids)."""
    points = points.detach()
    centroids = centroids.detach().to(points.dtype)
    for _ in range(iterations):
        labels = assign(points, centroids, chunk_bytes)
        centroids = centroid_means(points, labels, centroids)
    return centroids, assign(points, centroids, chunk_bytes)
