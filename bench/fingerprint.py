"""Fingerprints of the code that produces a result, so that no cache serves a stale one.

A run's key and every in-suite cache key (pretrained bases, attack targets, generated data)
include the fingerprint of the code that computed them:

- for a module of this distribution (the harness ``ucdbench`` or a built-in plugin of
  ``ucdbench_plugins``): a hash of its source and of the source of every module of those two
  packages it imports, directly or through others (found by reading the imports, without
  importing anything). Editing a method re-runs that method's runs and nothing else; editing a
  base model's pretraining rebuilds that base; editing the leaderboard re-runs nothing.
- for a module of another distribution (a third-party plugin): its distribution's name and
  version, which its author bumps on a release.

:data:`ucdbench.api` re-exports lazily, so its imports are read from its table of names.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import lru_cache
from importlib.metadata import packages_distributions, version
from pathlib import Path

OWN_PACKAGES = ("ucdbench", "ucdbench_plugins")


def _is_own(module: str) -> bool:
    return module.partition(".")[0] in OWN_PACKAGES


@lru_cache(maxsize=None)
def _source(module: str) -> tuple[str, bytes] | None:
    """(file path, source bytes) of an importable module, or None (a builtin, a namespace)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return spec.origin, Path(spec.origin).read_bytes()


def _is_module(name: str) -> bool:
    return _source(name) is not None


@lru_cache(maxsize=None)
def imported_modules(module: str) -> frozenset[str]:
    """The modules of this distribution that ``module`` imports directly (its source read, not run)."""
    found = _source(module)
    if found is None:
        return frozenset()
    path, source = found
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}"))
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets):
            # ucdbench.api's table of lazily imported names: {"name": "module", ...}
            names.update(v.value for v in ast.walk(node.value) if isinstance(v, ast.Constant) and isinstance(v.value, str)
                         and _is_own(v.value) and _is_module(v.value))
    return frozenset(n for n in names if _is_own(n) and _is_module(n))


def module_closure(*modules: str) -> list[str]:
    """``modules`` and every module of this distribution they import, transitively, sorted."""
    seen: set[str] = set()
    stack = [m for m in modules if _is_own(m)]
    while stack:
        module = stack.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        stack.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run first
        stack.extend(imported_modules(module) - seen)
    return sorted(m for m in seen if _source(m) is not None)


def code_fingerprint(*modules: str) -> str:
    """A short hash of the code behind ``modules``: the sources of their closure within this
    distribution, and ``name==version`` of the distribution of any other module."""
    digest = hashlib.sha256()
    for module in sorted(set(modules)):
        if not _is_own(module):
            digest.update(_distribution_version(module).encode())
    for module in module_closure(*modules):
        path, source = _source(module)  # type: ignore[misc]
        digest.update(module.encode() + b"\0" + hashlib.sha256(source).digest())
    return digest.hexdigest()[:16]


def _distribution_version(module: str) -> str:
    top = module.partition(".")[0]
    distributions = packages_distributions().get(top, [])
    if not distributions:
        return f"{module} (no distribution)"
    return ",".join(f"{d}=={version(d)}" for d in sorted(set(distributions)))


_MEMOS = (_source, imported_modules)


def clear() -> None:
    """Forget what was read (after a source changed within this process)."""
    for memo in _MEMOS:
        memo.cache_clear()
