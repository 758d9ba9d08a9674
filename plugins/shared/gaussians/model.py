"""The 3DGS data model: Gaussians stored in their raw (pre-activation) form, as the reference
implementation trains and saves them.

Activations (reference 3DGS): scale = exp(raw), opacity = sigmoid(raw), rotation = the
normalised quaternion (w, x, y, z). Colour is SH of degree up to 3: a DC term (N, 3) and the
remaining (N, K-1, 3) coefficients. The parameter names are the keys of ``state_dict()``, which
is what the harness stores and compares as "dense weights".
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ucdbench_plugins.shared.gaussians.camera import Camera
from ucdbench_plugins.shared.gaussians.sh import num_sh_bases, sh_degree_of

PARAMETER_NAMES: tuple[str, ...] = ("means", "sh_dc", "sh_rest", "opacities", "scales", "quats")


class GaussianModel(nn.Module):
    """N anisotropic 3D Gaussians; ``forward(camera)`` renders a (3, H, W) image in [0, ∞)."""

    def __init__(
        self,
        means: torch.Tensor,
        sh_dc: torch.Tensor,
        sh_rest: torch.Tensor,
        opacities: torch.Tensor,
        scales: torch.Tensor,
        quats: torch.Tensor,
        background: tuple[float, float, float] = (0.0, 0.0, 0.0),
        backend: str = "auto",
    ) -> None:
        super().__init__()
        n = means.shape[0]
        expected = {
            "means": (n, 3),
            "sh_dc": (n, 3),
            "opacities": (n,),
            "scales": (n, 3),
            "quats": (n, 4),
        }
        given = {"means": means, "sh_dc": sh_dc, "opacities": opacities, "scales": scales, "quats": quats}
        for name, shape in expected.items():
            if tuple(given[name].shape) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {tuple(given[name].shape)}")
        if sh_rest.ndim != 3 or sh_rest.shape[0] != n or sh_rest.shape[2] != 3:
            raise ValueError(f"sh_rest must have shape ({n}, K-1, 3), got {tuple(sh_rest.shape)}")
        self.sh_degree = sh_degree_of(sh_rest.shape[1] + 1)
        self.active_sh_degree = self.sh_degree
        self.means = nn.Parameter(means.detach().float().clone())
        self.sh_dc = nn.Parameter(sh_dc.detach().float().clone())
        self.sh_rest = nn.Parameter(sh_rest.detach().float().clone())
        self.opacities = nn.Parameter(opacities.detach().float().clone())
        self.scales = nn.Parameter(scales.detach().float().clone())
        self.quats = nn.Parameter(quats.detach().float().clone())
        self.register_buffer("background", torch.tensor(background, dtype=torch.float32), persistent=False)
        self.backend = backend

    @classmethod
    def from_state(cls, state: Mapping[str, torch.Tensor], **kwargs) -> GaussianModel:
        missing = [name for name in PARAMETER_NAMES if name not in state]
        if missing:
            raise ValueError(f"Gaussian state lacks {missing}")
        return cls(**{name: state[name] for name in PARAMETER_NAMES}, **kwargs)

    @property
    def num_gaussians(self) -> int:
        return self.means.shape[0]

    def raw(self) -> dict[str, torch.Tensor]:
        """The raw parameters the renderer uses (a quantisation-aware subclass returns their
        quantised values here)."""
        return {name: getattr(self, name) for name in PARAMETER_NAMES}

    def activated(self) -> dict[str, torch.Tensor]:
        """The Gaussians after the reference activations, as the rasteriser takes them."""
        raw = self.raw()
        return {
            "means": raw["means"],
            "quats": torch.nn.functional.normalize(raw["quats"], dim=-1),
            "scales": torch.exp(raw["scales"]),
            "opacities": torch.sigmoid(raw["opacities"]),
            "sh": torch.cat([raw["sh_dc"].unsqueeze(1), raw["sh_rest"]], dim=1),
        }

    def forward(self, camera: Camera) -> torch.Tensor:
        from ucdbench_plugins.shared.gaussians.render import render

        return render(self.activated(), camera, self.background, self.active_sh_degree, self.backend)


def random_gaussians(count: int, sh_degree: int, generator: torch.Generator, extent: float = 1.0) -> dict[str, torch.Tensor]:
    """Raw Gaussian parameters drawn at random inside a cube of half-size ``extent``
    (for tests and for initialising a scene without points)."""
    k = num_sh_bases(sh_degree)
    return {
        "means": (torch.rand(count, 3, generator=generator) * 2 - 1) * extent,
        "sh_dc": torch.randn(count, 3, generator=generator),
        "sh_rest": 0.1 * torch.randn(count, k - 1, 3, generator=generator),
        "opacities": torch.randn(count, generator=generator),
        "scales": torch.log(torch.rand(count, 3, generator=generator) * 0.05 * extent + 0.01 * extent),
        "quats": torch.randn(count, 4, generator=generator),
    }
