"""The CompGS file format: codebooks, bit-packed indices, run-length-encoded sorted indices.

An encoded scene is a dict of tensors the harness writes with safetensors, so the bytes the
compression evaluation counts are the bytes of this format (plus safetensors' small JSON
header):

- ``<attr>.codebook``: float32 (K, D) centroids of each quantised attribute
  (``sh_rest`` 3(K_sh−1)-d, ``sh_dc`` 3-d, ``scales`` 3-d log-scales, ``quats`` 4-d raw).
- Gaussians are sorted by the indices of one attribute (``sort_by``, the one whose run-length
  code is smallest); that attribute is stored as runs: ``<attr>.run_values`` and
  ``<attr>.run_lengths``, each bit-packed with just enough bits.
- every other quantised attribute: ``<attr>.indices``, ⌈log2 K⌉ bits per Gaussian, packed.
- ``means``: float32, or float16 with ``position_bits=16``.
- ``opacities``: float32 raw logits, or with ``opacity_bits=8`` the activated opacity in
  1/255 steps (uint8).

Packed bits are stored as uint8 tensors (little-endian bit order). Decoding is pure tensor
arithmetic, so it runs on whatever device the artifact is loaded to. Kept attributes decode
bit-exactly (float32 ones are stored as they are).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

QUANTISED = ("sh_rest", "sh_dc", "scales", "quats")
OPACITY_LEVELS = 255


@dataclass
class QuantisedScene:
    """A scene whose quantised attributes are codebooks + per-Gaussian labels."""

    codebooks: dict[str, torch.Tensor]
    labels: dict[str, torch.Tensor]
    means: torch.Tensor
    opacities: torch.Tensor
    """Raw (pre-sigmoid) opacities."""


def bits_for(count: int) -> int:
    """Bits to store integers in [0, count)."""
    return max(1, math.ceil(math.log2(max(count, 2))))


def pack_bits(values: torch.Tensor, bits: int) -> torch.Tensor:
    """Non-negative integers → uint8 tensor holding ``bits`` bits each, little-endian."""
    shifts = torch.arange(bits, device=values.device)
    flat = ((values.long()[:, None] >> shifts) & 1).reshape(-1)
    flat = torch.nn.functional.pad(flat, (0, (-flat.numel()) % 8))
    weights = 1 << torch.arange(8, device=values.device)
    return (flat.reshape(-1, 8) * weights).sum(dim=1).to(torch.uint8)


def unpack_bits(packed: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    """Inverse of :func:`pack_bits` → (count,) int64."""
    shifts = torch.arange(8, device=packed.device)
    flat = ((packed.long()[:, None] >> shifts) & 1).reshape(-1)[: count * bits]
    weights = 1 << torch.arange(bits, device=packed.device)
    return (flat.reshape(count, bits) * weights).sum(dim=1)


def run_length_encode(sorted_labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, lengths) of the runs of equal consecutive labels."""
    return torch.unique_consecutive(sorted_labels, return_counts=True)


def _run_bytes(labels: torch.Tensor, k: int) -> int:
    values, lengths = run_length_encode(torch.sort(labels).values)
    return math.ceil(len(values) * (bits_for(k) + bits_for(int(lengths.max()) + 1)) / 8)


def encode(scene: QuantisedScene, position_bits: int = 32, opacity_bits: int = 32) -> tuple[dict[str, torch.Tensor], dict, torch.Tensor]:
    """Encode → (tensors, metadata, order): ``order`` is the permutation of the Gaussians the
    file stores them in (sorted by ``sort_by``'s labels)."""
    if position_bits not in (16, 32) or opacity_bits not in (8, 32):
        raise ValueError("position_bits must be 16 or 32 and opacity_bits 8 or 32")
    count = scene.means.shape[0]
    sizes = {name: scene.codebooks[name].shape[0] for name in QUANTISED}
    sort_by = min(QUANTISED, key=lambda name: _run_bytes(scene.labels[name], sizes[name]) - count * bits_for(sizes[name]) / 8)
    order = torch.sort(scene.labels[sort_by], stable=True).indices
    tensors: dict[str, torch.Tensor] = {}
    metadata: dict = {"count": count, "sort_by": sort_by, "position_bits": position_bits, "opacity_bits": opacity_bits,
                      "codebook_sizes": sizes}
    for name in QUANTISED:
        tensors[f"{name}.codebook"] = scene.codebooks[name].float().contiguous()
        labels = scene.labels[name][order]
        if name == sort_by:
            values, lengths = run_length_encode(labels)
            length_bits = bits_for(int(lengths.max()) + 1)
            tensors[f"{name}.run_values"] = pack_bits(values, bits_for(sizes[name]))
            tensors[f"{name}.run_lengths"] = pack_bits(lengths, length_bits)
            metadata.update(num_runs=len(values), run_length_bits=length_bits)
        else:
            tensors[f"{name}.indices"] = pack_bits(labels, bits_for(sizes[name]))
    means = scene.means[order]
    tensors["means"] = means.half() if position_bits == 16 else means.float()
    opacities = scene.opacities[order]
    if opacity_bits == 8:
        tensors["opacities"] = torch.round(torch.sigmoid(opacities) * OPACITY_LEVELS).to(torch.uint8)
    else:
        tensors["opacities"] = opacities.float()
    return {name: t.detach().cpu().contiguous() for name, t in tensors.items()}, metadata, order


def decode(tensors: dict[str, torch.Tensor], metadata: dict, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Rebuild the raw Gaussian parameters (the keys of a ``GaussianModel`` state)."""
    count, sort_by, sizes = int(metadata["count"]), metadata["sort_by"], metadata["codebook_sizes"]
    state: dict[str, torch.Tensor] = {}
    for name in QUANTISED:
        codebook = tensors[f"{name}.codebook"].to(device)
        bits = bits_for(int(sizes[name]))
        if name == sort_by:
            runs = int(metadata["num_runs"])
            values = unpack_bits(tensors[f"{name}.run_values"].to(device), bits, runs)
            lengths = unpack_bits(tensors[f"{name}.run_lengths"].to(device), int(metadata["run_length_bits"]), runs)
            labels = torch.repeat_interleave(values, lengths)
        else:
            labels = unpack_bits(tensors[f"{name}.indices"].to(device), bits, count)
        state[name] = codebook[labels]
    state["sh_rest"] = state["sh_rest"].reshape(count, -1, 3)
    state["means"] = tensors["means"].to(device).float()
    opacities = tensors["opacities"].to(device)
    if int(metadata["opacity_bits"]) == 8:
        level = opacities.float().clamp(0.5, OPACITY_LEVELS - 0.5) / OPACITY_LEVELS
        opacities = torch.log(level / (1 - level))
    state["opacities"] = opacities.float()
    return state
