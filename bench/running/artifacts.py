"""Artifact files: safetensors, with the artifact's metadata as JSON in the file's header.

The stored bytes the compression evaluation reports are this file's size on disk, so
everything a method needs to rebuild its weights — and nothing else — must be in it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save

from ucdbench.running.cache import atomic_write_bytes
from ucdbench.contracts.interfaces import Artifact, ArtifactKind, Outcome

_HEADER_KEY = "ucdbench"


def write_artifact(path: Path, artifact: Artifact) -> int:
    """Write ``artifact`` atomically to ``path``; returns the file's size in bytes."""
    tensors = {name: t.detach().cpu().contiguous() for name, t in artifact.tensors.items()}
    header = json.dumps({"metadata": artifact.metadata, "dense": list(artifact.dense), "kind": artifact.kind.value},
                        sort_keys=True)
    atomic_write_bytes(path, save(tensors, metadata={_HEADER_KEY: header}))
    return path.stat().st_size


def read_artifact(path: Path, device: torch.device | str = "cpu") -> Artifact:
    """Read an artifact back, its tensors placed on ``device``."""
    tensors = {}
    with safe_open(str(path), framework="pt", device=str(device)) as handle:
        header = json.loads((handle.metadata() or {}).get(_HEADER_KEY, "{}"))
        for name in handle.keys():
            tensors[name] = handle.get_tensor(name)
    return Artifact(tensors, header.get("metadata", {}), tuple(header.get("dense", ())),
                    ArtifactKind(header.get("kind", ArtifactKind.MODEL.value)))


def dense_artifact(state: dict[str, torch.Tensor], metadata: dict | None = None) -> Artifact:
    """An artifact that stores a state dict as it is (every tensor dense).

    Tensors that share storage (tied embeddings) are stored once and recorded as aliases, as
    safetensors requires and as a real checkpoint would.
    """
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple[int, int, tuple[int, ...]], str] = {}
    for name, tensor in state.items():
        identity = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if identity in seen:
            aliases[name] = seen[identity]
            continue
        seen[identity] = name
        tensors[name] = tensor.detach()
    return Artifact(tensors, {**(metadata or {}), "aliases": aliases}, dense=tuple(tensors))


def expand_dense(artifact: Artifact, device: torch.device | str) -> dict[str, torch.Tensor]:
    """The state dict a :func:`dense_artifact` stores, aliases restored, on ``device``."""
    state = {name: t.to(device) for name, t in artifact.tensors.items()}
    for alias, name in artifact.metadata.get("aliases", {}).items():
        state[alias] = state[name]
    return state


def dense_model_outcome(model: torch.nn.Module, metrics: dict[str, float], *, metadata: dict | None = None,
                        **extras: Any) -> Outcome:
    """The Outcome of a method that stores its model as it is: the artifact is the model's
    complete state (parameters and buffers), rebuilt by :func:`expand_dense`; ``metadata``
    holds what building the model around that state needs (its shape-deciding settings), so
    :meth:`Method.rebuild_model` can read it back from the file."""
    return Outcome(model=model, artifact=dense_artifact(model.state_dict(), metadata), reconstruct=expand_dense,
                   metrics=metrics, extras=extras)
