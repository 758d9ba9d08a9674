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


def _full_argmin(points: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    return (points.unsqueeze(1) - centroids.unsqueeze(0)).pow(2).sum(dim=2).argmin(dim=1)


def test_without_a_budget_the_device_s_is_used_and_labels_are_indices_in_the_points_precision():
    generator = torch.Generator().manual_seed(1)
    points = torch.randint(-3, 4, (300, 3), generator=generator).double()
    centroids = torch.randint(-3, 4, (17, 3), generator=generator).double()
    labels = assign(points, centroids)
    assert labels.dtype == torch.long and torch.equal(labels, _full_argmin(points, centroids))


def test_the_distance_block_budget_is_cache_sized_on_cpu_and_large_elsewhere():
    from ucdbench_plugins.shared.nearest_centroid import default_chunk_bytes

    assert default_chunk_bytes(torch.device("cpu")) == 4 * 2**20
    assert default_chunk_bytes(torch.device("cuda", 1)) == 256 * 2**20
    assert default_chunk_bytes(torch.device("meta")) == 256 * 2**20  # a device type without its own: a GPU's


def test_a_large_codebook_s_grouped_argmin_with_blocks_of_more_rows_than_centroids():
    generator = torch.Generator().manual_seed(2)
    points = torch.randint(-3, 4, (1500, 2), generator=generator).float()
    centroids = torch.randint(-3, 4, (1030, 2), generator=generator).float()  # ≥ 1024: grouped, padded to 1152
    labels = assign(points, centroids, chunk_bytes=1500 * 1152 * 4)  # one block of 1500 rows
    assert torch.equal(labels, _full_argmin(points, centroids))
