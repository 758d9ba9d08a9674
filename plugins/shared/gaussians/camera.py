"""Pinhole cameras in the OpenCV/COLMAP convention (x right, y down, z forward), the one
gsplat's ``viewmats`` use; pixel (i, j) has its centre at (i + 0.5, j + 0.5)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Camera:
    """A world-to-camera transform and pinhole intrinsics."""

    viewmat: torch.Tensor
    """(4, 4) world → camera."""
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def intrinsics(self) -> torch.Tensor:
        """The (3, 3) matrix K, on the viewmat's device."""
        return torch.tensor(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]],
            dtype=self.viewmat.dtype,
            device=self.viewmat.device,
        )

    @property
    def center(self) -> torch.Tensor:
        """The camera's position in world coordinates."""
        rotation, translation = self.viewmat[:3, :3], self.viewmat[:3, 3]
        return -rotation.T @ translation

    def to(self, device: torch.device | str) -> Camera:
        return Camera(self.viewmat.to(device), self.fx, self.fy, self.cx, self.cy, self.width, self.height)


def focal_from_fov(fov_x: float, width: int) -> float:
    """Focal length in pixels for a horizontal field of view in radians."""
    return 0.5 * width / math.tan(0.5 * fov_x)


def look_at(eye: torch.Tensor, target: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """The (4, 4) world-to-camera matrix of a camera at ``eye`` looking at ``target``."""
    forward = torch.nn.functional.normalize(target - eye, dim=0)
    right = torch.nn.functional.normalize(torch.linalg.cross(forward, up), dim=0)
    down = torch.linalg.cross(forward, right)
    rotation = torch.stack([right, down, forward])  # rows: camera axes in world coordinates
    viewmat = torch.eye(4, dtype=eye.dtype)
    viewmat[:3, :3] = rotation
    viewmat[:3, 3] = -rotation @ eye
    return viewmat


def orbit_cameras(
    count: int,
    radius: float,
    size: int,
    fov_x: float,
    generator: torch.Generator,
    center: torch.Tensor | None = None,
) -> list[Camera]:
    """``count`` cameras on a sphere of ``radius`` around ``center`` looking at it, placed
    at random directions (elevation within ±60°) drawn from ``generator``."""
    center = torch.zeros(3) if center is None else center
    focal = focal_from_fov(fov_x, size)
    cameras = []
    for _ in range(count):
        azimuth = float(torch.rand((), generator=generator)) * 2 * math.pi
        elevation = (float(torch.rand((), generator=generator)) * 2 - 1) * math.pi / 3
        direction = torch.tensor(
            [math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth), math.sin(elevation)]
        )
        viewmat = look_at(center + radius * direction, center, torch.tensor([0.0, 0.0, 1.0]))
        cameras.append(Camera(viewmat, focal, focal, size / 2, size / 2, size, size))
    return cameras
