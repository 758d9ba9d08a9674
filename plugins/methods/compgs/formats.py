"""Artifacts of the Gaussian-compression baselines that need no codebook.

- ``plain``: the raw float32 parameters (the uncompressed model, as a 3DGS PLY holds it).
- ``half``: every parameter in float16.
- ``int8``: every attribute but the positions in 8 bits, per channel affine (min and step per
  column, float32); positions in float16, since 256 levels across a scene would move every
  Gaussian by up to 1/512 of the scene's width, which no view could hide.
"""

from __future__ import annotations

import torch

from ucdbench.api import Artifact, ArtifactKind
from ucdbench_plugins.shared.gaussians.model import PARAMETER_NAMES

FORMATS = ("plain", "half", "int8")
INT8_LEVELS = 255


def encode_plain(state: dict[str, torch.Tensor], fmt: str) -> Artifact:
    state = {name: state[name].detach().cpu().contiguous() for name in PARAMETER_NAMES}
    if fmt == "plain":
        return Artifact({n: t.float() for n, t in state.items()}, {"format": fmt}, dense=PARAMETER_NAMES, kind=ArtifactKind.SCENE)
    if fmt == "half":
        return Artifact({n: t.half() for n, t in state.items()}, {"format": fmt}, kind=ArtifactKind.SCENE)
    if fmt != "int8":
        raise ValueError(f"unknown format {fmt!r}; one of {FORMATS}")
    tensors = {"means": state["means"].half()}
    for name in PARAMETER_NAMES[1:]:
        flat = state[name].reshape(state[name].shape[0], -1).float()
        low, high = flat.min(dim=0).values, flat.max(dim=0).values
        step = ((high - low) / INT8_LEVELS).clamp_min(1e-12)
        tensors[f"{name}.q"] = torch.round((flat - low) / step).to(torch.uint8)
        tensors[f"{name}.min"] = low
        tensors[f"{name}.step"] = step
    return Artifact(tensors, {"format": fmt}, kind=ArtifactKind.SCENE)


def decode_plain(artifact: Artifact, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    tensors, fmt = artifact.tensors, artifact.metadata["format"]
    if fmt in ("plain", "half"):
        return {name: tensors[name].to(device).float() for name in PARAMETER_NAMES}
    state = {"means": tensors["means"].to(device).float()}
    for name in PARAMETER_NAMES[1:]:
        q = tensors[f"{name}.q"].to(device).float()
        flat = q * tensors[f"{name}.step"].to(device) + tensors[f"{name}.min"].to(device)
        state[name] = _unflatten(name, flat)
    return state


def _unflatten(name: str, flat: torch.Tensor) -> torch.Tensor:
    """(N, D) columns back to the parameter's own shape."""
    if name == "opacities":
        return flat.reshape(-1)
    if name == "sh_rest":
        return flat.reshape(flat.shape[0], -1, 3)
    return flat
