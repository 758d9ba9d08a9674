"""A row's graph across history entries, as asv draws a benchmark's: one point per entry with
its 95% interval, the x axis the entries named by commit and time, and the entries where the
regression gate found the row regressed (red) or a reviewer accepted a change (orange) shaded.
The headline figure on top, the latency below where the row has one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

MARK_COLOURS = {"regression": "#d62728", "accepted": "#ff9f1c"}
"""How the graph shades an entry the gate marked on the row."""


def _panel(ax: Any, values: Mapping[int, Mapping[str, Any]], colour: str, ylabel: str) -> None:
    xs = sorted(values)
    ax.errorbar(xs, [values[i]["mean"] for i in xs], yerr=[values[i].get("half_width") or 0 for i in xs],
                marker="o", color=colour, capsize=3, linewidth=1.2)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.grid(alpha=0.3)


def draw_row_history(values: Mapping[int, Mapping[str, Any]], labels: Sequence[str], title: str, colour: str,
                     path: Path) -> None:
    """Draw ``values`` (entry index → the row's history entry) into ``path`` (PNG); ``labels``
    name every shown entry, so every row's graph shares one x axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latency = {i: row["timing"] for i, row in values.items() if row.get("timing")}
    panels = 2 if latency else 1
    fig, axes = plt.subplots(panels, 1, figsize=(6.4, 2.3 * panels + 0.9), sharex=True, squeeze=False)
    first = next(iter(values.values()))
    _panel(axes[0][0], values, colour, first["figure"])
    if latency:
        unit = next(iter(latency.values())).get("unit")
        _panel(axes[1][0], latency, colour, next(iter(latency.values()))["figure"] + (f" ({unit})" if unit else ""))
    for i, row in values.items():
        changes = {mark["change"] for mark in row.get("gate", [])}
        for change, shade in MARK_COLOURS.items():
            if change in changes:
                for ax in (a[0] for a in axes):
                    ax.axvspan(i - 0.4, i + 0.4, color=shade, alpha=0.25, linewidth=0)
                axes[0][0].annotate(change, (i, 1), xycoords=("data", "axes fraction"), ha="center", va="bottom",
                                    fontsize=7, color=shade)
                break
    bottom = axes[-1][0]
    bottom.set_xlim(-0.5, len(labels) - 0.5)
    bottom.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
    axes[0][0].set_title(f"{title}: mean ± 95% CI over seeds, entry by entry", fontsize=9, pad=12)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
