"""The harness names nothing it hosts: no string literal in ``bench/`` is the name of a registered
built-in plugin (method, task, hardware, evaluation) or of a figure or metric a built-in
evaluation or task declares. What the harness does with a plugin comes from the plugin's
declarations (``reference_row``, ``ChartAxis``, ``conformance_problem``, ``is_default``,
``accelerator``), so a third-party plugin gets the same treatment as a built-in.

Literals only, read with ``ast``: comments and docstrings may name plugins as examples."""

from __future__ import annotations

import ast
from pathlib import Path

from ucdbench.discovery.registry import load_registry

HARNESS = Path(__file__).resolve().parents[1] / "bench"

ALLOWED = {
    ("running/artifacts.py", "cpu"): "torch's device type: read_artifact loads tensors onto the CPU unless told otherwise",
    ("running/rebuild.py", "cpu"): "torch's device type: a rebuilt run lands on the CPU unless told otherwise",
    ("running/executors.py", "cuda"): "torch's device type: a worker handed a torch CUDA device makes it current "
                                      "(torch.cuda.set_device), whichever hardware plugin listed it",
    ("running/environment.py", "cuda"): "the record's key for the CUDA version torch was built for (torch.version.cuda)",
    ("running/flops.py", "flops"): "the documented result key of ucdbench.api.count_flops, not the evaluation",
    ("cli/reports.py", "base"): "the argparse destination of `ucdbench compare`'s BASE results folder",
}
"""(file under bench/, literal) → why the word there is not naming a plugin or a figure."""


def hosted_names() -> dict[str, str]:
    """Every name a built-in registers, and every figure and metric built-ins declare → what it is."""
    registry = load_registry()
    names: dict[str, str] = {}
    for kind, entries in registry.entries.items():
        for name, entry in entries.items():
            if not entry.builtin:
                continue
            names.setdefault(name, f"the {kind} {name!r}")
            cls = entry.load()
            for figure in (*getattr(cls, "figures", ()), *getattr(cls, "metrics", ())):
                names.setdefault(figure.name, f"a figure of the {kind} {name!r}")
    return names


def _documentation(tree: ast.AST) -> set[int]:
    """ids of the string constants that are documentation: a bare string statement (a module,
    class or function docstring, or an attribute's docstring after its assignment)."""
    return {id(node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}


def named_literals(source: str, names: dict[str, str]) -> list[tuple[int, str]]:
    """(line, literal) of each string literal of ``source`` that is exactly one of ``names``."""
    tree = ast.parse(source)
    documentation = _documentation(tree)
    return sorted((node.lineno, node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
                  and id(node) not in documentation)


def test_the_scan_finds_a_named_plugin_in_code_and_not_in_documentation():
    source = '"""The digits task."""\n\nDEFAULT = "digits"  # the cpu\nLABEL = f"{DEFAULT}: top1"\nWHERE = ("cpu",)\n'
    assert named_literals(source, {"digits": "task", "cpu": "hardware", "top1": "metric"}) == [(3, "digits"),
                                                                                                  (5, "cpu")]


def test_the_names_cover_every_kind_and_the_declared_figures():
    names = hosted_names()
    registry = load_registry()
    for kind in registry.entries:
        assert any(description.startswith(f"the {kind} ") for description in names.values()), kind
    assert any(d.startswith("a figure of the evaluation") for d in names.values())
    assert any(d.startswith("a figure of the task") for d in names.values())  # task metrics


def test_no_literal_in_the_harness_names_a_hosted_plugin_or_figure():
    names = hosted_names()
    found, allowed_and_seen = [], set()
    for path in sorted(HARNESS.rglob("*.py")):
        relative = path.relative_to(HARNESS).as_posix()
        for line, literal in named_literals(path.read_text(), names):
            if (relative, literal) in ALLOWED:
                allowed_and_seen.add((relative, literal))
            else:
                found.append(f"bench/{relative}:{line}: {literal!r} names {names[literal]}")
    assert not found, ("the harness names what it hosts; declare it on the plugin instead (see ucdbench.api):\n"
                       + "\n".join(found))
    assert allowed_and_seen == set(ALLOWED), f"allowances no longer needed: {sorted(set(ALLOWED) - allowed_and_seen)}"
