"""The folder layout is the rule: built-in plugins reach the harness through ``ucdbench.api``
alone, never import another plugin's folder (shared code lives in ``plugins/shared``), and the
harness names no built-in plugin. Read from the sources' imports, nothing is run."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS, HARNESS = ROOT / "plugins", ROOT / "bench"


def _module(path: Path, root: Path, top: str) -> str:
    parts = [top, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> list[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}".rstrip(".")
            found.append(base)
    return found


def _owner(module: str) -> str:
    """The unit a plugin module belongs to: ``ucdbench_plugins.<kind>.<name>`` (or the shared tree)."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] == "shared":
        return "ucdbench_plugins.shared"
    return ".".join(parts[:3])


PLUGIN_MODULES = {_module(p, PLUGINS, "ucdbench_plugins"): p for p in sorted(PLUGINS.rglob("*.py"))}


@pytest.mark.parametrize("module", sorted(PLUGIN_MODULES))
def test_a_builtin_plugin_imports_the_public_api_its_own_folder_and_shared_code_only(module):
    path = PLUGIN_MODULES[module]
    for imported in _imports(path, module):
        if imported == "ucdbench" or imported.startswith("ucdbench."):
            assert imported in ("ucdbench", "ucdbench.api"), (
                f"{path.relative_to(ROOT)} imports {imported}: plugins use ucdbench.api (and hookimpl from ucdbench)")
        elif imported.startswith("ucdbench_plugins.") and module.count(".") >= 2:
            allowed = {_owner(module), "ucdbench_plugins.shared"}
            assert _owner(imported) in allowed or imported in allowed, (
                f"{path.relative_to(ROOT)} imports {imported}, another plugin's code: move what both use to "
                "plugins/shared/")


def test_shared_code_has_no_import_cycles():
    graph = {m: {i for i in _imports(p, m) if i.startswith("ucdbench_plugins.shared.") and i in PLUGIN_MODULES}
             for m, p in PLUGIN_MODULES.items() if m.startswith("ucdbench_plugins.shared.")}
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle in plugins/shared: {exc.args[1]}")


def test_the_harness_names_no_builtin_plugin():
    for path in sorted(HARNESS.rglob("*.py")):
        module = _module(path, HARNESS, "ucdbench")
        for imported in _imports(path, module):
            assert not imported.startswith("ucdbench_plugins"), f"bench/{path.relative_to(HARNESS)} imports {imported}"


def test_every_plugin_folder_is_a_package_the_distribution_ships():
    import tomllib

    packages = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {_module(p, PLUGINS, "ucdbench_plugins") for p in PLUGINS.rglob("__init__.py")}
    assert folders <= packages, f"add to pyproject's packages: {sorted(folders - packages)}"
    strays = [p.parent for p in PLUGINS.rglob("*.py") if not (p.parent / "__init__.py").exists()]
    assert not strays, f"folders without __init__.py: {strays}"
