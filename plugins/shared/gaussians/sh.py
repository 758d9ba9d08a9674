"""Real spherical harmonics up to degree 3, with the constants and sign convention of the
reference 3DGS implementation (and gsplat), so PLY files trained elsewhere render the same.

Colour = SH(direction) + 0.5, clamped at 0: the reference stores the DC term so that a zero
coefficient means mid-grey.
"""

from __future__ import annotations

import torch

C0 = 0.28209479177387814
C1 = 0.4886025119029199
C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)

MAX_SH_DEGREE = 3


def num_sh_bases(degree: int) -> int:
    """Coefficients per colour channel at ``degree`` (1, 4, 9, 16)."""
    if not 0 <= degree <= MAX_SH_DEGREE:
        raise ValueError(f"SH degree must be in 0..{MAX_SH_DEGREE}, got {degree}")
    return (degree + 1) ** 2


def sh_degree_of(num_bases: int) -> int:
    """Inverse of :func:`num_sh_bases`."""
    for degree in range(MAX_SH_DEGREE + 1):
        if num_sh_bases(degree) == num_bases:
            return degree
    raise ValueError(f"{num_bases} SH coefficients per channel is not (d+1)^2 for d <= {MAX_SH_DEGREE}")


def sh_basis(degree: int, dirs: torch.Tensor) -> torch.Tensor:
    """The SH basis functions at unit directions ``dirs`` (N, 3) → (N, (degree+1)^2)."""
    x, y, z = dirs.unbind(-1)
    basis = [torch.full_like(x, C0)]
    if degree >= 1:
        basis += [-C1 * y, C1 * z, -C1 * x]
    if degree >= 2:
        xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
        basis += [
            C2[0] * xy,
            C2[1] * yz,
            C2[2] * (2.0 * zz - xx - yy),
            C2[3] * xz,
            C2[4] * (xx - yy),
        ]
    if degree >= 3:
        basis += [
            C3[0] * y * (3 * xx - yy),
            C3[1] * xy * z,
            C3[2] * y * (4 * zz - xx - yy),
            C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            C3[4] * x * (4 * zz - xx - yy),
            C3[5] * z * (xx - yy),
            C3[6] * x * (xx - 3 * yy),
        ]
    return torch.stack(basis, dim=-1)


def sh_to_rgb(degree: int, coeffs: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Colours (N, 3) from SH ``coeffs`` (N, K, 3) seen along ``dirs`` (N, 3, any length),
    using the first (degree+1)^2 coefficients."""
    k = num_sh_bases(degree)
    unit = torch.nn.functional.normalize(dirs, dim=-1)
    values = (sh_basis(degree, unit).unsqueeze(-1) * coeffs[:, :k, :]).sum(dim=1)
    return torch.clamp_min(values + 0.5, 0.0)


def rgb_to_dc(rgb: torch.Tensor) -> torch.Tensor:
    """The DC coefficient that renders as ``rgb`` from every direction."""
    return (rgb - 0.5) / C0
