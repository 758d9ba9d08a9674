"""Sample grids for leaderboards: source image → what an augmentation makes of it, as PNG bytes.

One row per augmented image (the first few of one episode): its source, then — for the
diffusion edits — the same source edited towards the same class at several noise ratios, and
last the image the method actually adds (with its ratio where it has one).
"""

from __future__ import annotations

import io
import math

import torch

from ucdbench_plugins.shared.fewshot.augmentation import FewShotLearner, Support
from ucdbench_plugins.shared.fewshot.generative import Edit

GRID_RATIOS = (0.3, 0.5, 0.7, 0.8, 0.9, 1.0)


def _target(label: torch.Tensor, classes: torch.Tensor, class_names: list[str], ratio: float) -> str:
    """The title of an added image: its class and ratio, or the two largest shares of a soft label."""
    if label.dim() == 0:
        return f"→ {class_names[int(classes[label])]}" + ("" if math.isnan(ratio) else f" (r = {ratio:g})")
    shares = sorted(((float(p), class_names[int(classes[i])]) for i, p in enumerate(label) if p > 0), reverse=True)
    return "→ " + " + ".join(f"{p:.2f} {name}" for p, name in shares[:2])


def sample_grid(learner: FewShotLearner, images: torch.Tensor, labels: torch.Tensor, classes: torch.Tensor,
                class_names: list[str], generator: torch.Generator, *, title: str, rows: int = 4) -> bytes:
    """A PNG of the first ``rows`` augmented images of the support set (images, labels, classes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    support = Support(images, labels, classes)
    augmentation = learner.augmentation
    added = augmentation.augment(support, generator, learner.backbone)
    count = min(rows, len(added.labels))
    columns: list[tuple[str, torch.Tensor]] = [("source", added.sources[:count])]
    if isinstance(augmentation, Edit):
        for ratio in GRID_RATIOS:
            edits = augmentation.edit(added.sources[:count], added.labels[:count], support, ratio, generator)
            columns.append((f"r = {ratio:g}", edits))
    columns.append(("added", added.images[:count]))
    figure, axes = plt.subplots(max(count, 1), len(columns), squeeze=False,
                                figsize=(1.3 * len(columns), 1.4 * max(count, 1) + 0.4))
    for row in range(max(count, 1)):
        for col, (heading, batch) in enumerate(columns):
            axis = axes[row][col]
            axis.axis("off")
            if row >= count:
                continue
            image = batch[row].detach().float().cpu().clamp(0, 1)
            axis.imshow(image.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
            name = heading
            if heading == "added":
                name = _target(added.labels[row], classes, class_names, float(added.ratios[row]))
            axis.set_title(name, fontsize=7)
    figure.suptitle(f"{title}: source → generated", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
