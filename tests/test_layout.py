"""The folder layout is the rule: built-in plugins reach the harness through ``ucdbench.api``
alone, never import another plugin's folder (shared code lives in ``plugins/shared``), and the
harness names no built-in plugin; the harness's own modules sit in layers that import only the
layers below them, with no import circle. Read from the sources' imports, nothing is run."""

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


HARNESS_LAYERS = ("core", "contracts", "discovery", "running", "api", "reporting", "authoring", "top")
"""Bottom to top. A module of a layer imports modules of its own layer and the layers listed
below it in :data:`MAY_IMPORT`; ``top`` is the command line, ``ucdbench.cli`` (the experiment-file
loader among it), and the package root."""
MAY_IMPORT = {
    "core": {"core"},
    "contracts": {"core", "contracts"},
    "discovery": {"core", "contracts", "discovery"},
    "running": {"core", "contracts", "discovery", "running"},
    "api": {"core", "contracts", "discovery", "running"},
    "reporting": {"core", "contracts", "discovery", "running", "reporting"},
    "authoring": {"core", "contracts", "discovery", "running", "api", "authoring"},
    "top": set(HARNESS_LAYERS),
}
HARNESS_MODULES = {_module(p, HARNESS, "ucdbench"): p for p in sorted(HARNESS.rglob("*.py"))}


LAYER_PACKAGES = {layer: layer for layer in HARNESS_LAYERS if layer not in ("api", "top")} | {"cli": "top"}
"""The folder under bench/ → the layer its modules belong to."""


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in LAYER_PACKAGES:
        return LAYER_PACKAGES[parts[1]]  # ucdbench.<folder>.<module>, or the folder's package itself
    assert len(parts) == 1 or module == "ucdbench.api", f"{module}: bench/ holds no modules outside its layers' folders"
    return "api" if module == "ucdbench.api" else "top"


def _runtime_imports(path: Path, module: str) -> list[str]:
    """The harness modules ``path`` imports, at import time or inside a function, leaving out
    what it imports for annotations only (``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            node.body = []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return [name for name in found if name in HARNESS_MODULES and name != module]


@pytest.mark.parametrize("module", sorted(HARNESS_MODULES))
def test_a_harness_module_imports_only_its_layer_and_the_layers_below(module):
    layer = _layer(module)
    for imported in _runtime_imports(HARNESS_MODULES[module], module):
        if imported == "ucdbench":
            continue  # the package itself: its version and hookimpl marker
        assert _layer(imported) in MAY_IMPORT[layer], (
            f"{module} ({layer}) imports {imported} ({_layer(imported)}): a layer imports only "
            f"{', '.join(sorted(MAY_IMPORT[layer]))}; move what both need down a layer")


def test_the_harness_has_no_import_circle():
    graph = {module: set(_runtime_imports(path, module)) - {"ucdbench"} for module, path in HARNESS_MODULES.items()}
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"import circle in the harness: {' -> '.join(exc.args[1])}")


def test_every_layer_says_what_it_holds_and_may_import():
    for folder in LAYER_PACKAGES:
        doc = ast.get_docstring(ast.parse((HARNESS / folder / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"bench/{folder}/__init__.py needs a docstring: what the layer holds, what it imports"


LONGEST_FUNCTION = 60
"""Lines, from ``def`` to the last line, docstring included: a longer function does several things;
split it into helpers named for each."""


def _long_functions(source: str, where: str) -> list[str]:
    tree = ast.parse(source)
    return [f"{where}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > LONGEST_FUNCTION]


def test_the_length_check_counts_a_function_from_def_to_its_last_line():
    statements = [f"x{i} = {i}" for i in range(LONGEST_FUNCTION - 1)]
    fits = "def fits():\n" + "".join(f"    {statement}\n" for statement in statements)
    too_long = "class C:\n    def method(self):\n" + "".join(f"        {statement}\n"
                                                          for statement in [*statements, "return 1"])
    assert _long_functions(fits, "f.py") == []
    assert _long_functions(too_long, "f.py") == [f"f.py:2 method ({LONGEST_FUNCTION + 1} lines)"]


def test_no_harness_function_is_longer_than_60_lines():
    found = [line for path in sorted(HARNESS.rglob("*.py"))
             for line in _long_functions(path.read_text(), f"bench/{path.relative_to(HARNESS)}")]
    assert not found, (f"functions over {LONGEST_FUNCTION} lines; split each into helpers that do one thing:\n"
                       + "\n".join(found))
