"""Differentiable Gaussian rasterisation behind one interface, with two back ends.

- ``torch``: pure PyTorch, runs anywhere (meant for small images on CPU). Instead of 16×16
  tiles it builds the list of (pixel, Gaussian) pairs whose pixel centre lies within each
  Gaussian's 3σ radius, sorts the pairs by (pixel, depth) and composites them front to back
  with a segmented cumulative sum of log(1 − α) per pixel. A Gaussian contributes only while
  the transmittance after it stays above 1e-4, which is exactly the early termination of the
  CUDA rasterisers (transmittance only decreases, so the cut is a prefix of each pixel's list).
- ``gsplat``: ``gsplat.rasterization`` on CUDA when gsplat is installed.

Both follow gsplat's conventions so they agree: pixel centres at +0.5, a 0.3-pixel² low-pass
added to each 2D covariance, α = min(0.999, opacity · exp(−σ)), pairs with α < 1/255 skipped,
colour = clamp(SH + 0.5, 0). One known difference: tiled rasterisers also evaluate a Gaussian
a little beyond 3σ (wherever its tiles reach); this one stops at 3σ, where α ≤ 0.011·opacity.
"""

from __future__ import annotations

import math

import torch

from ucdbench.api import UcdbenchError
from ucdbench_plugins.shared.gaussians.camera import Camera
from ucdbench_plugins.shared.gaussians.sh import sh_to_rgb

BACKENDS = ("auto", "torch", "gsplat")
NEAR_PLANE = 0.01
LOW_PASS = 0.3
ALPHA_MAX = 0.999
ALPHA_MIN = 1.0 / 255.0
TRANSMITTANCE_MIN = 1e-4


def gsplat_available() -> bool:
    try:
        import gsplat  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


def render(
    gaussians: dict[str, torch.Tensor],
    camera: Camera,
    background: torch.Tensor,
    sh_degree: int,
    backend: str = "auto",
) -> torch.Tensor:
    """Render activated Gaussians (``means``, ``quats`` unit, ``scales``, ``opacities`` in
    [0, 1], ``sh`` (N, K, 3)) seen from ``camera`` → (3, H, W)."""
    if backend not in BACKENDS:
        raise UcdbenchError(f"unknown rasteriser back end {backend!r}; choose one of {BACKENDS}")
    device = gaussians["means"].device
    use_gsplat = backend == "gsplat" or (backend == "auto" and device.type == "cuda" and gsplat_available())
    if backend == "gsplat" and not gsplat_available():
        raise UcdbenchError("the gsplat back end needs `pip install gsplat` and a CUDA GPU; use backend='torch'")
    camera = camera.to(device)
    if use_gsplat:
        return _render_gsplat(gaussians, camera, background.to(device), sh_degree)
    dirs = gaussians["means"] - camera.center
    colors = sh_to_rgb(sh_degree, gaussians["sh"], dirs)
    return rasterize_torch(
        gaussians["means"], gaussians["quats"], gaussians["scales"], gaussians["opacities"], colors, camera,
        background.to(device),
    )


def _render_gsplat(gaussians: dict[str, torch.Tensor], camera: Camera, background: torch.Tensor, sh_degree: int) -> torch.Tensor:
    from gsplat import rasterization

    image, _, _ = rasterization(
        means=gaussians["means"],
        quats=gaussians["quats"],
        scales=gaussians["scales"],
        opacities=gaussians["opacities"],
        colors=gaussians["sh"],
        viewmats=camera.viewmat[None],
        Ks=camera.intrinsics[None],
        width=camera.width,
        height=camera.height,
        near_plane=NEAR_PLANE,
        eps2d=LOW_PASS,
        sh_degree=sh_degree,
        backgrounds=background[None],
    )
    return image[0].permute(2, 0, 1)


def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (N, 3, 3) from unit quaternions (N, 4) in (w, x, y, z) order."""
    w, x, y, z = quats.unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(-1, 3, 3)


def project(
    means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, camera: Camera
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """EWA projection: pixel means (N, 2), conics (N, 3) = inverse 2D covariance (a, b, c),
    depths (N,), and 3σ radii in pixels (N,; 0 where culled)."""
    rotation, translation = camera.viewmat[:3, :3], camera.viewmat[:3, 3]
    p = means @ rotation.T + translation
    depth = p[:, 2]
    z = depth.clamp_min(NEAR_PLANE)
    # Clamp the direction the Jacobian is taken at, as the reference does, so Gaussians far
    # outside the frustum do not blow up.
    lim_x_pos = (camera.width - camera.cx) / camera.fx + 0.3 * (0.5 * camera.width / camera.fx)
    lim_x_neg = camera.cx / camera.fx + 0.3 * (0.5 * camera.width / camera.fx)
    lim_y_pos = (camera.height - camera.cy) / camera.fy + 0.3 * (0.5 * camera.height / camera.fy)
    lim_y_neg = camera.cy / camera.fy + 0.3 * (0.5 * camera.height / camera.fy)
    tx = z * (p[:, 0] / z).clamp(-lim_x_neg, lim_x_pos)
    ty = z * (p[:, 1] / z).clamp(-lim_y_neg, lim_y_pos)
    zeros = torch.zeros_like(z)
    jacobian = torch.stack(
        [camera.fx / z, zeros, -camera.fx * tx / z**2, zeros, camera.fy / z, -camera.fy * ty / z**2], dim=-1
    ).reshape(-1, 2, 3)
    scaled_rotation = quat_to_rotmat(quats) * scales[:, None, :]
    cov_world = scaled_rotation @ scaled_rotation.transpose(1, 2)
    cov_cam = rotation @ cov_world @ rotation.T
    cov2d = jacobian @ cov_cam @ jacobian.transpose(1, 2)
    a = cov2d[:, 0, 0] + LOW_PASS
    b = cov2d[:, 0, 1]
    c = cov2d[:, 1, 1] + LOW_PASS
    det = a * c - b * b
    safe_det = torch.where(det > 0, det, torch.ones_like(det))
    conics = torch.stack([c / safe_det, -b / safe_det, a / safe_det], dim=-1)
    mid = 0.5 * (a + c)
    largest_eigenvalue = mid + torch.sqrt((mid * mid - det).clamp_min(0.01))
    radii = torch.ceil(3.0 * torch.sqrt(largest_eigenvalue.detach()))
    radii = torch.where((det > 0) & (depth > NEAR_PLANE), radii, torch.zeros_like(radii))
    means2d = torch.stack([camera.fx * p[:, 0] / z + camera.cx, camera.fy * p[:, 1] / z + camera.cy], dim=-1)
    return means2d, conics, depth, radii


def rasterize_torch(
    means: torch.Tensor,
    quats: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    colors: torch.Tensor,
    camera: Camera,
    background: torch.Tensor,
) -> torch.Tensor:
    """Composite Gaussians front to back into a (3, H, W) image (see the module docstring)."""
    width, height = camera.width, camera.height
    means2d, conics, depth, radii = project(means, quats, scales, camera)
    pixel_ids, gaussian_ids = _pixel_gaussian_pairs(means2d.detach(), radii, depth.detach(), width, height)
    num_pixels = width * height
    image = torch.zeros(num_pixels, 3, dtype=colors.dtype, device=colors.device)
    log_transmittance = torch.zeros(num_pixels, dtype=torch.float64, device=colors.device)
    if pixel_ids.numel():
        centre_x = (pixel_ids % width).to(means2d.dtype) + 0.5
        centre_y = torch.div(pixel_ids, width, rounding_mode="floor").to(means2d.dtype) + 0.5
        # One gather of every per-Gaussian value (and one scatter in the backward pass).
        gathered = torch.cat([means2d, conics, opacities[:, None], colors], dim=1).index_select(0, gaussian_ids)
        dx = centre_x - gathered[:, 0]
        dy = centre_y - gathered[:, 1]
        sigma = 0.5 * (gathered[:, 2] * dx * dx + gathered[:, 4] * dy * dy) + gathered[:, 3] * dx * dy
        alpha = torch.clamp_max(gathered[:, 5] * torch.exp(-sigma), ALPHA_MAX)
        alpha = torch.where((sigma >= 0) & (alpha >= ALPHA_MIN), alpha, torch.zeros_like(alpha))
        log_keep = torch.log1p(-alpha).double()
        # Segmented inclusive cumsum of log(1 - α) per pixel: the global cumsum minus its value
        # just before each pixel's segment starts (float64 keeps the subtraction exact enough).
        _, counts = torch.unique_consecutive(pixel_ids, return_counts=True)
        starts = torch.cumsum(counts, 0) - counts
        cumulative = torch.cumsum(log_keep, 0)
        before_segment = (cumulative[starts] - log_keep[starts]).repeat_interleave(counts)
        log_after = cumulative - before_segment
        included = (log_after > math.log(TRANSMITTANCE_MIN)).detach()
        transmittance_before = torch.exp(log_after - log_keep).to(alpha.dtype)
        weights = torch.where(included, alpha * transmittance_before, torch.zeros_like(alpha))
        image = image.index_add(0, pixel_ids, weights[:, None] * gathered[:, 6:])
        log_transmittance = log_transmittance.index_add(0, pixel_ids, torch.where(included, log_keep, 0.0))
    image = image + torch.exp(log_transmittance).to(image.dtype)[:, None] * background
    return image.T.reshape(3, height, width)


def _pixel_gaussian_pairs(
    means2d: torch.Tensor, radii: torch.Tensor, depth: torch.Tensor, width: int, height: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixel id, Gaussian id) for every pixel centre within a Gaussian's radius box, sorted
    by pixel, then by depth (front first)."""
    device = means2d.device
    x_lo = torch.ceil(means2d[:, 0] - radii - 0.5).clamp(0, width).long()
    x_hi = torch.floor(means2d[:, 0] + radii - 0.5).clamp(-1, width - 1).long()
    y_lo = torch.ceil(means2d[:, 1] - radii - 0.5).clamp(0, height).long()
    y_hi = torch.floor(means2d[:, 1] + radii - 0.5).clamp(-1, height - 1).long()
    box_w = (x_hi - x_lo + 1).clamp_min(0)
    box_h = (y_hi - y_lo + 1).clamp_min(0)
    counts = torch.where(radii > 0, box_w * box_h, torch.zeros_like(box_w))
    total = int(counts.sum())
    if total == 0:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty
    gaussian_ids = torch.repeat_interleave(torch.arange(len(counts), device=device), counts)
    offsets = torch.arange(total, device=device) - (torch.cumsum(counts, 0) - counts).repeat_interleave(counts)
    local_w = box_w[gaussian_ids]
    px = x_lo[gaussian_ids] + offsets % local_w
    py = y_lo[gaussian_ids] + torch.div(offsets, local_w, rounding_mode="floor")
    pixel_ids = py * width + px
    depth_rank = torch.empty_like(counts)
    depth_rank[torch.argsort(depth)] = torch.arange(len(depth), device=device)
    order = torch.argsort(pixel_ids * len(depth) + depth_rank[gaussian_ids])
    return pixel_ids[order], gaussian_ids[order]
