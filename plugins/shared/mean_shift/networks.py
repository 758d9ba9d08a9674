"""Online and target networks of mean-shift training, shaped as the official code builds them
(``ConstrainedMeanShift2Q.__init__`` in ``self_supervised/train_msf_2q.py`` of UCDvision/CMSF):
a backbone with feature size D, a projection MLP D → 2D → D/4 and, on the online side only, a
prediction MLP D/4 → 2D → D/4 (each ``Linear → BatchNorm → ReLU → Linear``, ``get_mlp``). The
target is a copy of backbone and projection that follows the online one by an exponential
moving average of the parameters (``_momentum_update_target_encoder``: parameters only; the
target's BatchNorm statistics are its own, from its own forward passes in training mode).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def projection_width(dim: int) -> int:
    """The width of the projection of a backbone with ``dim`` features."""
    return max(1, dim // 4)


def mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """``Linear → BatchNorm1d → ReLU → Linear`` (the official ``get_mlp``)."""
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True),
                         nn.Linear(hidden_dim, out_dim))


@torch.no_grad()
def feature_dim(encoder: nn.Module, sample: torch.Tensor) -> int:
    """The size of ``encoder``'s features, from one forward pass in eval mode."""
    was_training = encoder.training
    encoder.eval()
    dim = int(encoder(sample[:1]).shape[1])
    encoder.train(was_training)
    return dim


class Projected(nn.Module):
    """A backbone's features through a projection head, L2-normalised when asked."""

    def __init__(self, encoder: nn.Module, projector: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = projector

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(x))


class MomentumPair(nn.Module):
    """The online network (backbone → projection → prediction) and its EMA target
    (backbone → projection), with the official sizes."""

    def __init__(self, encoder: nn.Module, dim: int) -> None:
        super().__init__()
        self.projection_dim = projection_width(dim)
        self.online = Projected(encoder, mlp(dim, 2 * dim, self.projection_dim))
        self.predictor = mlp(self.projection_dim, 2 * dim, self.projection_dim)
        self.target = copy.deepcopy(self.online).requires_grad_(False)

    def query(self, x: torch.Tensor) -> torch.Tensor:
        """The online prediction of ``x``, L2-normalised."""
        return F.normalize(self.predictor(self.online(x)), dim=1)

    @torch.no_grad()
    def target_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The target network's projection of ``x``, L2-normalised."""
        return F.normalize(self.target(x), dim=1)


@torch.no_grad()
def ema_update(online: nn.Module, target: nn.Module, momentum: float) -> None:
    """target ← momentum · target + (1 − momentum) · online, parameter by parameter (buffers
    are left alone, as the official update leaves them)."""
    for online_param, target_param in zip(online.parameters(), target.parameters()):
        target_param.mul_(momentum).add_(online_param.detach(), alpha=1.0 - momentum)
