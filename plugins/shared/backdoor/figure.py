"""A picture of the blocking defence at work: per image, the triggered input with the trigger's
box (green) and the blocked box (red), the saliency map over it, and what the model sees after
blocking. Rendered with matplotlib's Agg back end to PNG bytes, for an evaluation to attach."""

from __future__ import annotations

import io

import torch


def _box_patch(box: list[int], colour: str):
    from matplotlib.patches import Rectangle

    top, left, bottom, right = box
    return Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False, edgecolor=colour, linewidth=1.5)


def _shown(image: torch.Tensor):
    """(C, H, W) in [0, 1] → what imshow takes (grey for one channel)."""
    image = image.detach().cpu().clamp(0, 1)
    return image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()


def defence_figure(triggered: torch.Tensor, maps: torch.Tensor, blocked: torch.Tensor, trigger_boxes: torch.Tensor,
                   blocked_boxes: torch.Tensor, titles: list[str]) -> bytes:
    """PNG bytes of one row per image: triggered (boxes drawn), map overlay, blocked image."""
    from matplotlib.figure import Figure  # no pyplot: savefig renders PNG with Agg

    rows = len(triggered)
    figure = Figure(figsize=(6, 2 * rows), dpi=100)
    axes = figure.subplots(rows, 3, squeeze=False)
    for i in range(rows):
        image = _shown(triggered[i])
        grey = image.ndim == 2
        axes[i, 0].imshow(image, cmap="gray" if grey else None, vmin=0, vmax=1, interpolation="nearest")
        axes[i, 0].add_patch(_box_patch(trigger_boxes[i].tolist(), "lime"))
        axes[i, 0].add_patch(_box_patch(blocked_boxes[i].tolist(), "red"))
        axes[i, 0].set_title(titles[i], fontsize=7)
        axes[i, 1].imshow(image, cmap="gray" if grey else None, vmin=0, vmax=1, interpolation="nearest")
        axes[i, 1].imshow(maps[i].detach().cpu().numpy(), cmap="jet", alpha=0.5, vmin=0, vmax=1)
        axes[i, 1].set_title("map", fontsize=7)
        axes[i, 2].imshow(_shown(blocked[i]), cmap="gray" if grey else None, vmin=0, vmax=1, interpolation="nearest")
        axes[i, 2].set_title("blocked", fontsize=7)
        for ax in axes[i]:
            ax.set_axis_off()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
