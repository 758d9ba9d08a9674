"""Time this suite's k-means against scikit-learn's on the same data and iteration count.

    python -m ucdbench_plugins.methods.compgs.kmeans_benchmark            # 1M × 48-d, 4096 centroids
    python -m ucdbench_plugins.methods.compgs.kmeans_benchmark --points 100000 --iterations 3

Both start from the same initial centroids and run exactly ``--iterations`` Lloyd steps
(scikit-learn with ``tol=0``, ``n_init=1``, ``algorithm="lloyd"``); the figures are seconds
per Lloyd step (both also make one final assignment, counted in) and the final inertia (mean squared distance to the nearest centroid), which
should agree to a few digits. CUDA is timed where a GPU is visible.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from ucdbench_plugins.methods.compgs.kmeans import initial_centroids, kmeans
from ucdbench_plugins.shared.nearest_centroid import assign


def _inertia(points: torch.Tensor, centroids: torch.Tensor, chunk_bytes: int | None) -> float:
    labels = assign(points, centroids, chunk_bytes)
    return float(((points - centroids[labels]) ** 2).sum(dim=1).mean())


def _time_torch(points: torch.Tensor, init: torch.Tensor, iterations: int, device: str, chunk_bytes: int | None) -> tuple[float, float]:
    x, c = points.to(device), init.to(device)
    kmeans(x, c, 1, chunk_bytes)  # warm-up (kernels, allocator)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    centroids, _ = kmeans(x, c, iterations, chunk_bytes)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return seconds / iterations, _inertia(x, centroids, chunk_bytes)


def _time_sklearn(points: torch.Tensor, init: torch.Tensor, iterations: int) -> tuple[float, float]:
    from sklearn.cluster import KMeans

    model = KMeans(len(init), init=init.numpy(), n_init=1, max_iter=iterations, tol=0.0, algorithm="lloyd")
    start = time.perf_counter()
    model.fit(points.numpy())
    seconds = time.perf_counter() - start
    return seconds / iterations, float(model.inertia_) / len(points)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=48)
    parser.add_argument("--clusters", type=int, default=4096)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--chunk-mib", type=int, default=0, help="distance-block size (default: per device)")
    parser.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn (slow at full size)")
    args = parser.parse_args(argv)

    generator = torch.Generator().manual_seed(0)
    # Clustered data, as 3DGS attributes are: a mixture of 4× as many blobs as centroids.
    blobs = torch.randn(4 * args.clusters, args.dim, generator=generator)
    points = blobs[torch.randint(len(blobs), (args.points,), generator=generator)]
    points += 0.3 * torch.randn(args.points, args.dim, generator=generator)
    init = initial_centroids(points, args.clusters, generator)
    chunk = args.chunk_mib * 2**20 or None
    print(f"k-means: {args.points:,} points × {args.dim}-d, {args.clusters} centroids, {args.iterations} Lloyd steps; "
          f"torch threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        per_step, inertia = _time_torch(points, init, args.iterations, device, chunk)
        print(f"ucdbench {device:>5}: {per_step:8.3f} s/step   inertia {inertia:.5f}")
    if not args.no_sklearn:
        per_step, inertia = _time_sklearn(points, init, args.iterations)
        print(f"sklearn   cpu: {per_step:8.3f} s/step   inertia {inertia:.5f}")


if __name__ == "__main__":
    main()
