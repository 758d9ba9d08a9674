"""Image metrics of novel-view synthesis and the 3DGS photometric loss.

SSIM is the standard one (11×11 Gaussian window, σ = 1.5, C1 = 0.01², C2 = 0.03², images in
[0, 1]), as in the reference 3DGS code. LPIPS needs pretrained network weights, which this
offline suite does not ship, so it is reported only where :func:`lpips_if_available` finds
them; otherwise it says why not.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
DSSIM_WEIGHT = 0.2
"""λ of the reference loss (1 − λ)·L1 + λ·(1 − SSIM)."""


def psnr(image: torch.Tensor, target: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of images in [0, 1] (the render is clamped first)."""
    mse = F.mse_loss(image.clamp(0, 1), target).item()
    return float("inf") if mse == 0 else -10.0 * math.log10(mse)


def _window(channels: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    coords = torch.arange(SSIM_WINDOW, dtype=dtype, device=device) - SSIM_WINDOW // 2
    g = torch.exp(-(coords**2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW).contiguous()


def ssim(image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of (C, H, W) or (B, C, H, W) images (differentiable)."""
    x = image if image.ndim == 4 else image[None]
    y = target if target.ndim == 4 else target[None]
    channels = x.shape[1]
    window = _window(channels, x.device, x.dtype)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, padding=SSIM_WINDOW // 2, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean()


def photometric_loss(image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The 3DGS training loss (1 − λ)·L1 + λ·(1 − SSIM), λ = 0.2."""
    l1 = (image - target).abs().mean()
    return (1 - DSSIM_WEIGHT) * l1 + DSSIM_WEIGHT * (1 - ssim(image, target))


def lpips_if_available() -> tuple[object | None, str]:
    """(an LPIPS(alex) scorer, "") when the ``lpips`` package and its AlexNet backbone weights
    are already on this machine, else (None, why not): the suite never downloads weights."""
    try:
        import lpips
    except ImportError:
        return None, "omitted: the lpips package is not installed (the suite downloads no weights)"
    from pathlib import Path

    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    if not any(checkpoints.glob("alexnet-*.pth")):
        return None, f"omitted: no AlexNet weights (alexnet-*.pth) in {checkpoints} (the suite downloads no weights)"
    return lpips.LPIPS(net="alex", verbose=False).eval(), ""
