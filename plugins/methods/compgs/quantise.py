"""Per-attribute vector quantisation of Gaussians, after training and during it.

:func:`cluster_scene` is the post-training step (k-means on each attribute of a trained
scene). :class:`QuantisationAwareGaussians` is CompGS's training-time form: the renderer sees
each quantised attribute as its cluster centre through the straight-through estimator
``q = x − x.detach() + centre`` (exactly the centre forward, identity backward), so gradients
reach the continuous values ``x``; the centres are the means of their members after every
step, and every ``reassign_every`` steps the assignments are recomputed with a few
warm-started Lloyd steps.
"""

from __future__ import annotations

import torch

from ucdbench_plugins.methods.compgs.codec import QUANTISED, QuantisedScene
from ucdbench_plugins.methods.compgs.kmeans import centroid_means, initial_centroids, kmeans
from ucdbench_plugins.shared.gaussians.model import GaussianModel


def _flat(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().reshape(tensor.shape[0], -1)


def cluster_scene(
    state: dict[str, torch.Tensor], sizes: dict[str, int], iterations: int, generator: torch.Generator
) -> QuantisedScene:
    """k-means on every quantised attribute of raw Gaussian parameters ``state``."""
    codebooks, labels = {}, {}
    for name in QUANTISED:
        points = _flat(state[name])
        codebooks[name], labels[name] = kmeans(points, initial_centroids(points, sizes[name], generator), iterations)
    return QuantisedScene(codebooks, labels, state["means"].detach(), state["opacities"].detach())


class QuantisationAwareGaussians(GaussianModel):
    """A Gaussian model that renders its quantised attributes as their cluster centres."""

    def start_quantisation(self, sizes: dict[str, int], iterations: int, generator: torch.Generator) -> None:
        scene = cluster_scene(self.raw_continuous(), sizes, iterations, generator)
        self.codebooks, self.labels = scene.codebooks, scene.labels

    def raw_continuous(self) -> dict[str, torch.Tensor]:
        return super().raw()

    def raw(self) -> dict[str, torch.Tensor]:
        raw = super().raw()
        if not hasattr(self, "codebooks"):
            return raw
        for name in QUANTISED:
            x = raw[name]
            centre = self.codebooks[name][self.labels[name]].reshape(x.shape)
            raw[name] = (x - x.detach()) + centre
        return raw

    @torch.no_grad()
    def update_centroids(self) -> None:
        """Centres ← mean of their current members (assignments unchanged)."""
        for name in QUANTISED:
            self.codebooks[name] = centroid_means(_flat(getattr(self, name)), self.labels[name], self.codebooks[name])

    @torch.no_grad()
    def reassign(self, iterations: int) -> None:
        """Warm-started Lloyd steps from the current centres, then new assignments."""
        for name in QUANTISED:
            self.codebooks[name], self.labels[name] = kmeans(_flat(getattr(self, name)), self.codebooks[name], iterations)

    def keep(self, mask: torch.Tensor) -> None:
        """Follow a pruning of the Gaussians (the parameters themselves are pruned by the trainer)."""
        self.labels = {name: labels[mask] for name, labels in self.labels.items()}

    def quantised_scene(self) -> QuantisedScene:
        return QuantisedScene(dict(self.codebooks), dict(self.labels), self.means.detach(), self.opacities.detach())
