"""Read and write the standard 3DGS PLY layout (the reference implementation's ``point_cloud.ply``).

One binary little-endian ``vertex`` element of float32 properties:
``x y z nx ny nz f_dc_0..2 f_rest_0..(3(K-1)-1) opacity scale_0..2 rot_0..3``, values raw
(before activation). ``f_rest`` is channel-major: the first K-1 entries are the red
coefficients of degrees ≥ 1, then green, then blue. Normals are written as zeros and ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ucdbench.api import UcdbenchError
from ucdbench_plugins.shared.gaussians.sh import sh_degree_of


def _property_names(num_rest: int) -> list[str]:
    return (
        ["x", "y", "z", "nx", "ny", "nz"]
        + [f"f_dc_{i}" for i in range(3)]
        + [f"f_rest_{i}" for i in range(3 * num_rest)]
        + ["opacity"]
        + [f"scale_{i}" for i in range(3)]
        + [f"rot_{i}" for i in range(4)]
    )


def write_ply(path: str | Path, state: dict[str, torch.Tensor]) -> None:
    """Write raw Gaussian parameters (keys of :data:`~.model.PARAMETER_NAMES`) as a 3DGS PLY."""
    from plyfile import PlyData, PlyElement

    n, num_rest = state["means"].shape[0], state["sh_rest"].shape[1]
    columns = [
        state["means"],
        torch.zeros(n, 3),
        state["sh_dc"],
        state["sh_rest"].transpose(1, 2).reshape(n, -1),
        state["opacities"].reshape(n, 1),
        state["scales"],
        state["quats"],
    ]
    values = torch.cat([c.detach().cpu().float() for c in columns], dim=1).numpy()
    names = _property_names(num_rest)
    vertices = np.empty(n, dtype=[(name, "<f4") for name in names])
    for i, name in enumerate(names):
        vertices[name] = values[:, i]
    PlyData([PlyElement.describe(vertices, "vertex")], byte_order="<").write(str(path))


def read_ply(path: str | Path) -> dict[str, torch.Tensor]:
    """Raw Gaussian parameters from a 3DGS PLY (SH degree inferred from the f_rest count)."""
    from plyfile import PlyData

    path = Path(path)
    if not path.is_file():
        raise UcdbenchError(f"3DGS PLY file {str(path)!r} does not exist; pass the point_cloud.ply of a trained scene")
    vertex = PlyData.read(str(path))["vertex"]
    names = {p.name for p in vertex.properties}
    num_rest_values = sum(1 for name in names if name.startswith("f_rest_"))
    required = _property_names(num_rest_values // 3)
    missing = [name for name in required if name not in names and name not in ("nx", "ny", "nz")]
    if missing or num_rest_values % 3:
        raise UcdbenchError(
            f"{str(path)!r} is not a 3DGS PLY: missing {missing or 'a multiple of 3 f_rest values'}"
        )
    sh_degree_of(num_rest_values // 3 + 1)

    n = len(vertex["x"])

    def columns(prefix_names: list[str]) -> torch.Tensor:
        if not prefix_names:
            return torch.zeros(n, 0)
        return torch.from_numpy(np.stack([np.asarray(vertex[name], dtype=np.float32) for name in prefix_names], axis=1))

    rest = columns([f"f_rest_{i}" for i in range(num_rest_values)])
    return {
        "means": columns(["x", "y", "z"]),
        "sh_dc": columns([f"f_dc_{i}" for i in range(3)]),
        "sh_rest": rest.reshape(n, 3, num_rest_values // 3).transpose(1, 2).contiguous(),
        "opacities": columns(["opacity"]).reshape(n),
        "scales": columns([f"scale_{i}" for i in range(3)]),
        "quats": columns([f"rot_{i}" for i in range(4)]),
    }
