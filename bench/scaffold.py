"""``ucdbench new-plugin NAME``: a ready plugin package — pyproject with the entry point, a
registration module, a method, and a test that runs the conformance kit on it."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ucdbench import __version__
from ucdbench.interfaces import UcdbenchError
from ucdbench.plugins import NAME_PATTERN

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
    package = "ucdbench_" + name.replace("-", "_").lower()
    fields = {"name": name, "package": package, "distribution": f"ucdbench-{name.lower()}",
              "cls": "".join(part.capitalize() for part in name.replace("_", "-").split("-")) or "Method",
              "ucdbench_version": __version__.split("+")[0]}
    root = parent / fields["distribution"]
    if root.exists():
        raise UcdbenchError(f"{root} exists already: choose another folder (--dir) or name")
    templates = files("ucdbench") / "templates" / "new_plugin"
    for template, target in _LAYOUT.items():
        path = root / target.format(**fields)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(templates.joinpath(template).read_text().format(**fields))
    return root
