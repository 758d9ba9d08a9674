"""``ucdbench new-plugin NAME``: a ready plugin package — pyproject with the entry point, a
registration module, a method, and a test that runs the conformance kit on it.

The package must install where ucdbench does, so its ``requires-python`` is ucdbench's own, read
from the installed distribution (never a copy that drifts). A name some registered plugin
already has is refused: the new method would lose it to that plugin (built-ins win, then the
plugin loaded first), and a new entry point of a taken plugin name would be broken outright."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, metadata
from importlib.resources import files
from itertools import chain, count
from pathlib import Path

from ucdbench import __version__
from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.discovery.registry import KINDS, NAME_PATTERN, Registry, load_registry

_LAYOUT = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "__init__.py.tmpl": "src/{package}/__init__.py",
    "method.py.tmpl": "src/{package}/method.py",
    "test_conformance.py.tmpl": "tests/test_conformance.py",
}


def new_plugin(name: str, parent: Path) -> Path:
    """Write the package of a method plugin called ``name`` into ``parent``; returns its folder."""
    if not NAME_PATTERN.fullmatch(name):
        raise UcdbenchError(f"{name!r} is not a plugin name: use letters, digits, '-' and '_', starting with a "
                            "letter or digit (for example my-method)")
    registry = load_registry()
    owner = _owner_of(registry, name)
    if owner:
        candidates = chain([f"my-{name}"], (f"{name}-{i}" for i in count(2)))
        suggestion = next(n for n in candidates if not _owner_of(registry, n))
        raise UcdbenchError(f"{name!r} is taken: {owner} has it, so a new plugin of that name could not use it. "
                            f"Choose another name, for example `ucdbench new-plugin {suggestion}`")
    package = "ucdbench_" + name.replace("-", "_").lower()
    fields = {"name": name, "package": package, "distribution": f"ucdbench-{name.lower()}",
              "cls": "".join(part.capitalize() for part in name.replace("_", "-").split("-")) or "Method",
              "ucdbench_version": __version__.split("+")[0], "requires_python": _requires_python()}
    root = parent / fields["distribution"]
    if root.exists():
        raise UcdbenchError(f"{root} exists already: choose another folder (--dir) or name")
    templates = files("ucdbench.authoring") / "templates" / "new_plugin"
    for template, target in _LAYOUT.items():
        path = root / target.format(**fields)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(templates.joinpath(template).read_text().format(**fields))
    return root


def _owner_of(registry: Registry, name: str) -> str | None:
    """Who already has ``name``, in words: a registered method, task, hardware or evaluation,
    or a plugin (an entry-point name); None when nobody does."""
    for kind in KINDS:
        entry = registry.entries[kind].get(name)
        if entry is not None:
            return f"{kind} {name!r} of plugin {entry.plugin!r} ({entry.package})"
    plugin = next((p for p in registry.plugins if p.name == name), None)
    return f"plugin {name!r} ({plugin.package})" if plugin else None


def _requires_python() -> str:
    try:
        required = metadata("ucdbench")["Requires-Python"]
    except PackageNotFoundError:
        required = None
    if not required:
        raise UcdbenchError("ucdbench's installed metadata says no Requires-Python (is it installed? `pip install "
                            "-e .` in its source tree), so the new plugin's requires-python cannot match it")
    return required
