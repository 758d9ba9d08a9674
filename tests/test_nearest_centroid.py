"""The shared blocked nearest-centroid assignment (CompGS's and CMSF-KM's k-means)."""

from __future__ import annotations

import torch

from ucdbench_plugins.shared.nearest_centroid import assign


def test_blocked_assignment_equals_the_full_distance_argmin_for_chunks_that_do_not_divide():
    generator = torch.Generator().manual_seed(0)
    points = torch.randint(-3, 4, (1001, 3), generator=generator).float()  # exact distances, many ties
    centroids = torch.randint(-3, 4, (53, 3), generator=generator).float()
    full = (points.unsqueeze(1) - centroids.unsqueeze(0)).pow(2).sum(dim=2).argmin(dim=1)
    for rows in (1, 7, 64, 1001):
        assert torch.equal(assign(points, centroids, chunk_bytes=rows * 53 * 4), full)
