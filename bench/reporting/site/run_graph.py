"""A run's training curves (``record["curves"]``: name → [[epoch, value], ...]) as one PNG, a
panel per curve, in the method's colour (:class:`ucdbench.reporting.charts.MethodColours`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def draw_curves(curves: Mapping[str, Sequence[Sequence[float]]], title: str, colour: str, path: Path) -> None:
    """Draw every curve of ``curves`` into ``path``, one panel each, x the epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(curves), 1, figsize=(6, 2.4 * len(curves) + 0.4), squeeze=False)
    for ax, (name, points) in zip((a[0] for a in axes), sorted(curves.items())):
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, color=colour)
        ax.set_ylabel(name, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1][0].set_xlabel("epoch")
    axes[0][0].set_title(title, fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
