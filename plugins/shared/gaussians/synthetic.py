"""An offline synthetic scene: a mesh that ships with pyvista, textured procedurally, and its
ground-truth views.

The ground truth is a dense cloud of flat, nearly opaque Gaussian discs sampled on the mesh
surface (tangent to it, colour from a procedural texture plus a little view-dependent SH),
rendered with the suite's own rasteriser. That needs no OpenGL context, so it works headless,
and it gives the trained 3DGS something it can represent but must learn: it starts from far
fewer, isotropic, grey Gaussians at other surface points.
"""

from __future__ import annotations

import math

import torch

from ucdbench.api import UcdbenchError
from ucdbench_plugins.shared.gaussians.camera import Camera, orbit_cameras
from ucdbench_plugins.shared.gaussians.sh import num_sh_bases, rgb_to_dc

MESHES = ("ant", "airplane", "nut", "sphere")
CAMERA_DISTANCE = 2.5
FIELD_OF_VIEW = 0.8
"""Horizontal field of view in radians; the mesh is scaled to fit the unit sphere."""


def load_mesh(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Vertices (V, 3) centred and scaled into the unit sphere, and triangles (F, 3)."""
    if name not in MESHES:
        raise UcdbenchError(f"unknown mesh {name!r}; the offline meshes are {MESHES}")
    from pathlib import Path

    import pyvista
    from pyvista import examples

    mesh = pyvista.read(Path(examples.__file__).parent / f"{name}.ply").triangulate()
    vertices = torch.tensor(mesh.points, dtype=torch.float64)
    faces = torch.tensor(mesh.faces.reshape(-1, 4)[:, 1:], dtype=torch.long)
    vertices = vertices - (vertices.max(0).values + vertices.min(0).values) / 2
    vertices = vertices / vertices.norm(dim=1).max()
    return vertices.float(), faces


def sample_surface(
    vertices: torch.Tensor, faces: torch.Tensor, count: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` points uniformly distributed over the surface area, and their unit normals."""
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    cross = torch.linalg.cross(b - a, c - a)
    area = cross.norm(dim=1)
    face = torch.multinomial(area, count, replacement=True, generator=generator)
    u, v = torch.rand(count, generator=generator), torch.rand(count, generator=generator)
    flip = u + v > 1
    u, v = torch.where(flip, 1 - u, u), torch.where(flip, 1 - v, v)
    points = a[face] + u[:, None] * (b[face] - a[face]) + v[:, None] * (c[face] - a[face])
    normals = cross[face] / area[face, None].clamp_min(1e-12)
    return points, normals


def texture(points: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
    """A procedural RGB texture in [0.05, 0.95]: stripes modulated by the surface orientation."""
    stripes = 0.5 + 0.5 * torch.sin(9.0 * points @ torch.tensor([[1.0, 0.3, 0.0], [0.0, 1.0, 0.4], [0.5, 0.0, 1.0]]).T)
    shade = 0.5 + 0.5 * normals.abs()
    return (0.05 + 0.9 * (0.6 * stripes + 0.4 * shade)).clamp(0.05, 0.95)


def disc_quaternions(normals: torch.Tensor) -> torch.Tensor:
    """Unit quaternions (w, x, y, z) rotating the z axis onto each normal (up to sign, which a
    flat disc does not see)."""
    n = torch.where(normals[:, 2:3] < 0, -normals, normals)
    quats = torch.stack([1 + n[:, 2], -n[:, 1], n[:, 0], torch.zeros_like(n[:, 0])], dim=1)
    return torch.nn.functional.normalize(quats, dim=1)


def ground_truth_gaussians(mesh: str, count: int, sh_degree: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Raw parameters of the dense ground-truth cloud (discs ~1.5× their spacing wide)."""
    vertices, faces = load_mesh(mesh)
    points, normals = sample_surface(vertices, faces, count, generator)
    total_area = torch.linalg.cross(
        vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]]
    ).norm(dim=1).sum() / 2
    spacing = math.sqrt(float(total_area) / count)
    k = num_sh_bases(sh_degree)
    sh_rest = torch.zeros(count, k - 1, 3)
    if k > 1:
        sh_rest[:, :3] = 0.15 * torch.randn(count, min(3, k - 1), 3, generator=generator)
    scales = torch.tensor([0.75 * spacing, 0.75 * spacing, 0.05 * spacing]).log().expand(count, 3)
    return {
        "means": points,
        "sh_dc": rgb_to_dc(texture(points, normals)),
        "sh_rest": sh_rest,
        "opacities": torch.full((count,), 4.0),
        "scales": scales.clone(),
        "quats": disc_quaternions(normals),
    }


def initial_gaussians(mesh: str, count: int, sh_degree: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Where training starts, as 3DGS does from an SfM cloud: surface points (other than the
    ground truth's), grey, isotropic with the mean distance to the 3 nearest neighbours as
    scale, opacity 0.1, identity rotation."""
    vertices, faces = load_mesh(mesh)
    points, _ = sample_surface(vertices, faces, count, generator)
    nearest = torch.cdist(points, points).topk(4, largest=False).values[:, 1:].mean(dim=1)
    k = num_sh_bases(sh_degree)
    return {
        "means": points,
        "sh_dc": torch.zeros(count, 3),
        "sh_rest": torch.zeros(count, k - 1, 3),
        "opacities": torch.full((count,), math.log(0.1 / 0.9)),
        "scales": nearest.clamp_min(1e-6).log()[:, None].repeat(1, 3),
        "quats": torch.tensor([1.0, 0.0, 0.0, 0.0]).repeat(count, 1),
    }


def synthetic_cameras(count: int, size: int, generator: torch.Generator) -> list[Camera]:
    return orbit_cameras(count, CAMERA_DISTANCE, size, FIELD_OF_VIEW, generator)
