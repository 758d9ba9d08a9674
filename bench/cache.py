"""An on-disk cache for things the suite builds itself: pretrained base models, generated data.

Entries are keyed by a hash of the JSON config that produced them, written atomically (temp
file + rename) so that parallel workers (pytest-xdist, one worker per GPU) never read a
half-written file: the worst case is that two of them compute the same entry. An entry built
by code that may change (a model trained by a method) puts :func:`source_fingerprint` of that
code in its config, so a code change builds it again instead of serving a stale one.
The folder is ``$UCDBENCH_CACHE`` or ``~/.cache/ucdbench``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any


def cache_dir() -> Path:
    root = Path(os.environ.get("UCDBENCH_CACHE", Path.home() / ".cache" / "ucdbench"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def config_key(config: Any) -> str:
    """A short stable hash of a JSON-serialisable config."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def source_fingerprint(*modules: ModuleType) -> str:
    """A short hash of the source files of ``modules``: it changes whenever one of them does."""
    digest = hashlib.sha256()
    for module in modules:
        source = inspect.getsourcefile(module)
        if source is None:
            raise ValueError(f"module {module.__name__} has no source file to fingerprint")
        digest.update(Path(source).read_bytes())
    return digest.hexdigest()[:16]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def cached_tensors(kind: str, config: dict[str, Any], build: Callable[[], dict]) -> dict:
    """Tensors cached under ``kind``/hash(config); ``build()`` makes them on a miss.

    Used for in-suite pretrained base models (a state dict) and generated datasets. ``build``
    runs on forked random-number generators, so a run draws the same numbers after a cache
    miss as after a hit: a cold cache never changes a result.
    """
    import torch
    from safetensors.torch import load_file, save

    path = cache_dir() / kind / f"{config_key(config)}.safetensors"
    if path.exists():
        return load_file(path)
    with torch.random.fork_rng():
        built = build()
    tensors = {name: t.detach().cpu().contiguous() for name, t in built.items()}
    atomic_write_bytes(path, save(tensors, metadata={"config": json.dumps(config, sort_keys=True)}))
    return tensors
