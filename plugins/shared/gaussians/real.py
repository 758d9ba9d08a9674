"""Real scenes from disk: a NeRF-synthetic folder (``transforms_train.json`` /
``transforms_test.json``) or a COLMAP folder (``sparse/0/{cameras,images}.txt`` + ``images/``).

Images are resized to ``width`` pixels wide (intrinsics scaled to match). COLMAP scenes hold
out every 8th image (sorted by name) for testing, as the 3DGS evaluation does. Only COLMAP's
text model is read; convert a binary one with
``colmap model_converter --input_path sparse/0 --output_path sparse/0 --output_type TXT``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ucdbench.api import UcdbenchError
from ucdbench_plugins.shared.gaussians.camera import Camera, focal_from_fov
from ucdbench_plugins.shared.gaussians.render import quat_to_rotmat

View = tuple[Camera, torch.Tensor]
COLMAP_TEST_EVERY = 8


def load_real_scene(folder: str | Path, width: int, white_background: bool) -> tuple[list[View], list[View]]:
    """(train views, test views) of the scene in ``folder``."""
    folder = Path(folder)
    if (folder / "transforms_train.json").is_file():
        background = 1.0 if white_background else 0.0
        return (
            _nerf_synthetic_split(folder, "train", width, background),
            _nerf_synthetic_split(folder, "test", width, background),
        )
    sparse = folder / "sparse" / "0"
    if (sparse / "cameras.txt").is_file():
        return _colmap_views(folder, sparse, width)
    if (sparse / "cameras.bin").is_file():
        raise UcdbenchError(
            f"{sparse} holds a binary COLMAP model; convert it to text with `colmap model_converter "
            f"--input_path {sparse} --output_path {sparse} --output_type TXT`"
        )
    raise UcdbenchError(
        f"{str(folder)!r} is neither a NeRF-synthetic scene (transforms_train.json) nor a COLMAP "
        "scene (sparse/0/cameras.txt and images/)"
    )


def _load_image(path: Path, width: int, background: float | None) -> tuple[torch.Tensor, float]:
    """(3, H, W) float image resized to ``width``, alpha composited on ``background``; and
    the resize factor."""
    from PIL import Image

    if not path.is_file():
        raise UcdbenchError(f"image {str(path)!r} named by the scene does not exist")
    image = Image.open(path)
    factor = width / image.width
    image = image.resize((width, max(1, round(image.height * factor))), Image.Resampling.LANCZOS)
    array = torch.from_numpy(np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0).permute(2, 0, 1)
    rgb, alpha = array[:3], array[3:]
    if background is not None:
        rgb = rgb * alpha + background * (1 - alpha)
    return rgb.contiguous(), factor


def _nerf_synthetic_split(folder: Path, split: str, width: int, background: float) -> list[View]:
    meta = json.loads((folder / f"transforms_{split}.json").read_text())
    views = []
    for frame in meta["frames"]:
        path = folder / frame["file_path"]
        path = path if path.suffix else path.with_suffix(".png")
        image, _ = _load_image(path, width, background)
        camera_to_world = torch.tensor(frame["transform_matrix"], dtype=torch.float32)
        camera_to_world[:3, 1:3] *= -1  # Blender/OpenGL (y up, z back) → OpenCV (y down, z forward)
        focal = focal_from_fov(float(meta["camera_angle_x"]), image.shape[2])
        height = image.shape[1]
        views.append((Camera(torch.linalg.inv(camera_to_world), focal, focal, image.shape[2] / 2, height / 2, image.shape[2], height), image))
    return views


def _colmap_views(folder: Path, sparse: Path, width: int) -> tuple[list[View], list[View]]:
    intrinsics: dict[str, tuple[float, float, float, float]] = {}
    for line in (sparse / "cameras.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        camera_id, model, _, _, *params = line.split()
        values = [float(p) for p in params]
        if model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
            intrinsics[camera_id] = (values[0], values[0], values[1], values[2])
        elif model in ("PINHOLE", "OPENCV", "FULL_OPENCV"):
            intrinsics[camera_id] = tuple(values[:4])
        else:
            raise UcdbenchError(f"COLMAP camera model {model} is not supported; undistort the scene first")
    # Each image is a line of exactly 10 fields followed by a line of 3·k point fields (maybe empty).
    rows = [line.split() for line in (sparse / "images.txt").read_text().splitlines() if not line.startswith("#")]
    entries = sorted((fields[9], fields) for fields in rows if len(fields) == 10)
    train, test = [], []
    for index, (name, fields) in enumerate(entries):
        quat = torch.tensor([float(v) for v in fields[1:5]])
        viewmat = torch.eye(4)
        viewmat[:3, :3] = quat_to_rotmat(torch.nn.functional.normalize(quat, dim=0)[None])[0]
        viewmat[:3, 3] = torch.tensor([float(v) for v in fields[5:8]])
        image, factor = _load_image(folder / "images" / name, width, None)
        fx, fy, cx, cy = intrinsics[fields[8]]
        camera = Camera(viewmat, fx * factor, fy * factor, cx * factor, cy * factor, image.shape[2], image.shape[1])
        (test if index % COLMAP_TEST_EVERY == 0 else train).append((camera, image))
    return train, test
