"""An on-disk cache for things the suite builds itself: pretrained base models, generated data.

Entries are keyed by a hash of the JSON config that produced them, written atomically (temp
file + rename) so that parallel workers (pytest-xdist, one worker per GPU) never read a
half-written file: the worst case is that two of them compute the same entry.
The folder is ``$UCDBENCH_CACHE`` or ``~/.cache/ucdbench``; each kind of entry has its own
folder in it (``pretrained/digits``, ``scene-views``, …), which ``ucdbench cache info`` lists
and ``ucdbench cache clear`` empties.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.core.suggestions import did_you_mean


def cache_dir() -> Path:
    root = Path(os.environ.get("UCDBENCH_CACHE", Path.home() / ".cache" / "ucdbench"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def config_key(config: Any) -> str:
    """A short stable hash of a JSON-serialisable config."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def build_code(build: Callable[..., Any]) -> str:
    """The fingerprint of the code behind ``build``: the module that defines it and, for a
    bound method, the module of its object's class (a subclass may override what it calls)."""
    from ucdbench.running.fingerprint import code_fingerprint

    modules = {build.__module__}
    owner = getattr(build, "__self__", None)
    if owner is not None:
        modules.add(type(owner).__module__)
    return code_fingerprint(*modules)


def cached_tensors(kind: str, config: dict[str, Any], build: Callable[[], dict]) -> dict:
    """Tensors cached under ``kind``/hash(config, code); ``build()`` makes them on a miss.

    Used for in-suite pretrained base models (a state dict), attack targets and generated
    datasets. The key includes the fingerprint of the code behind ``build``
    (:func:`build_code`), so an entry built by other code is never served, and torch's CPU
    thread count, because float reductions (so trained weights) depend on it. ``build`` runs on
    forked random-number generators, so a run draws the same numbers after a cache miss as
    after a hit: a cold cache never changes a result.
    """
    import torch
    from safetensors.torch import load_file, save

    identity = {"config": config, "code": build_code(build), "threads": torch.get_num_threads()}
    path = cache_dir() / kind / f"{config_key(identity)}.safetensors"
    if path.exists():
        return load_file(path)
    with torch.random.fork_rng():
        built = build()
    tensors = {name: t.detach().cpu().contiguous() for name, t in built.items()}
    atomic_write_bytes(path, save(tensors, metadata={"config": json.dumps(config, sort_keys=True)}))
    return tensors


# --------------------------------------------------------------------------------------------
# Inspecting and clearing the cache (`ucdbench cache info|clear`)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheKind:
    """One folder of the cache that holds entries, e.g. ``pretrained/digits``."""

    name: str
    entries: int
    bytes: int


def _entry_files(folder: Path) -> list[Path]:
    """The entries directly in ``folder``; hidden files are writes in progress, not entries."""
    return [p for p in folder.iterdir() if p.is_file() and not p.is_symlink() and not p.name.startswith(".")]


def cache_kinds() -> list[CacheKind]:
    """Every folder of the cache holding at least one entry, by name (``.`` for the top level)."""
    root = cache_dir()
    kinds = []
    for folder, _, _ in os.walk(root):
        files = _entry_files(Path(folder))
        if files:
            name = Path(folder).relative_to(root).as_posix()
            kinds.append(CacheKind(name, len(files), sum(p.stat().st_size for p in files)))
    return sorted(kinds, key=lambda k: k.name)


def select_cache_kinds(selectors: Sequence[str]) -> list[CacheKind]:
    """The kinds named by ``selectors`` (a kind, or a folder above kinds: ``pretrained``
    selects ``pretrained/digits`` and ``pretrained/pydocs``); all of them when empty."""
    kinds = cache_kinds()
    if not selectors:
        return kinds
    chosen: dict[str, CacheKind] = {}
    for selector in selectors:
        prefix = selector.strip("/")
        matches = [k for k in kinds if k.name == prefix or k.name.startswith(prefix + "/")]
        if not matches:
            names = [k.name for k in kinds]
            raise UcdbenchError(f"no cache kind {selector!r} in {cache_dir()}.{did_you_mean(prefix, names)} "
                                f"Kinds: {', '.join(names) or 'none (the cache is empty)'}; see `ucdbench cache info`")
        chosen.update((k.name, k) for k in matches)
    return sorted(chosen.values(), key=lambda k: k.name)


def clear_cache_kinds(kinds: Sequence[CacheKind]) -> None:
    """Delete the entries of ``kinds``. Folders and in-progress writes stay, so a worker
    writing into the cache at the same time still completes its write."""
    root = cache_dir()
    for kind in kinds:
        for path in _entry_files(root / kind.name):
            path.unlink(missing_ok=True)
