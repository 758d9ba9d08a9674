"""Fingerprints of the code that produces a result, so that no cache serves a stale one.

A run's key and every in-suite cache key (pretrained bases, attack targets, generated data)
include the fingerprint of the code that computed them. Code is fingerprinted in one of two
ways, by where it comes from:

- **by its source**, when it is code that may change without a new version: the harness
  ``ucdbench`` and its built-in plugins ``ucdbench_plugins`` (wherever they are installed), and
  any distribution installed from a local folder — ``pip install -e ./plugin`` or
  ``pip install ./plugin``, which record it in the ``direct_url.json`` of their ``.dist-info``
  (PEP 610: a ``file://`` URL with ``dir_info``). The fingerprint hashes the module's source and
  that of every module it imports, directly or through others, that is itself fingerprinted by
  source (found by reading the imports, without importing anything). Editing a method re-runs
  that method's runs and nothing else; editing a base model's pretraining rebuilds that base;
  editing the leaderboard re-runs nothing; editing a third-party plugin installed editable
  re-runs its runs, and so does editing a built-in it subclasses.
- **by its version**, for every other distribution (a wheel from an index, a VCS or archive
  URL): its ``name==version``, which its author bumps on a release. A distribution without
  ``direct_url.json`` is one of these, whatever its files are: only the installer knows where
  they came from, and PEP 610 is how it says so. So a package put on ``sys.path`` beside a bare
  ``.dist-info`` (the test suite's fixtures) is keyed by its version, or by its module's name
  where its metadata names none of its files; giving it a ``direct_url.json`` makes it source.

A distribution's top-level packages are those its metadata names (``top_level.txt``, or the
``.py`` files of its ``RECORD``) or, for an editable install whose back end names neither (a
PEP 660 install that puts a folder on ``sys.path`` through a ``.pth`` file), those in that folder.

:data:`ucdbench.api` re-exports lazily, so its imports are read from its table of names.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
from functools import lru_cache
from importlib.metadata import Distribution, distributions, packages_distributions, version
from pathlib import Path

OWN_PACKAGES = ("ucdbench", "ucdbench_plugins")
"""The harness and its built-in plugins: fingerprinted by source wherever they are installed."""


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


# --------------------------------------------------------------------------------------------
# Which distribution a module comes from, and how it was installed
# --------------------------------------------------------------------------------------------


def _installed_from_folder(dist: Distribution) -> bool:
    """Whether ``dist`` was installed from a local folder, editable or not (PEP 610)."""
    try:
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        return False
    return isinstance(direct, dict) and "dir_info" in direct and str(direct.get("url", "")).startswith("file:")


def _top_level_packages(dist: Distribution) -> set[str]:
    """The top-level packages and modules ``dist`` installs: as its metadata names them
    (``top_level.txt``, else the ``.py`` files of its ``RECORD``), and those in every folder it
    puts on ``sys.path`` through a ``.pth`` file (an editable install's source folder)."""
    declared = set((dist.read_text("top_level.txt") or "").split())
    files = dist.files or ()
    packages = declared or {f.parts[0] if len(f.parts) > 1 else f.with_suffix("").name
                            for f in files if f.suffix == ".py"}
    for pth in (Path(f.locate()) for f in files if f.suffix == ".pth"):
        for line in (pth.read_text() if pth.is_file() else "").splitlines():
            root = pth.parent / line.strip()
            if line.strip() and not line.startswith(("#", "import")) and root.is_dir():
                packages.update(p.stem for p in root.iterdir()
                                if p.stem.isidentifier() and (p.is_dir() or p.suffix == ".py"))
    return packages


@lru_cache(maxsize=None)
def _packages_from_folders() -> frozenset[str]:
    """The top-level packages of every distribution installed from a local folder."""
    return frozenset(package for dist in distributions() if _installed_from_folder(dist)
                     for package in _top_level_packages(dist))


@lru_cache(maxsize=None)
def by_source(module: str) -> bool:
    """Whether ``module`` is fingerprinted by its source (see the module docstring) rather than
    by its distribution's version."""
    package = module.partition(".")[0]
    return package in OWN_PACKAGES or package in _packages_from_folders()


# --------------------------------------------------------------------------------------------
# Reading imports
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def imported_modules(module: str) -> frozenset[str]:
    """The modules fingerprinted by source that ``module`` imports directly (its source read,
    not run)."""
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
            if by_source(base):
                names.update(f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}"))
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets):
            # ucdbench.api's table of lazily imported names: {"name": "module", ...}
            names.update(v.value for v in ast.walk(node.value) if isinstance(v, ast.Constant) and isinstance(v.value, str)
                         and by_source(v.value) and _is_module(v.value))
    return frozenset(n for n in names if by_source(n) and _is_module(n))


def module_closure(*modules: str) -> list[str]:
    """``modules`` and every module fingerprinted by source they import, transitively, sorted
    (those of ``modules`` fingerprinted by version are left out)."""
    seen: set[str] = set()
    stack = [m for m in modules if by_source(m)]
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
    """A short hash of the code behind ``modules``: the sources of their closure of modules
    fingerprinted by source, and ``name==version`` of the distribution of any other module."""
    digest = hashlib.sha256()
    for module in sorted(set(modules)):
        if not by_source(module):
            digest.update(_distribution_version(module).encode())
    for module in module_closure(*modules):
        path, source = _source(module)  # type: ignore[misc]
        digest.update(module.encode() + b"\0" + hashlib.sha256(source).digest())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=None)
def _packages_distributions() -> dict[str, list[str]]:
    return packages_distributions()


def _distribution_version(module: str) -> str:
    distributions = _packages_distributions().get(module.partition(".")[0], [])
    if not distributions:
        return f"{module} (no distribution)"
    return ",".join(f"{d}=={version(d)}" for d in sorted(set(distributions)))


_MEMOS = (_source, _packages_from_folders, by_source, imported_modules, _packages_distributions)


def clear() -> None:
    """Forget what was read (after a source, or what is installed, changed within this process)."""
    for memo in _MEMOS:
        memo.cache_clear()
