"""Every hook is documented (datasette style): a page per hookspec with its signature, its
arguments, what happens when something is wrong, and an example. Every kind of plugin has a page
that shows its example package exactly as the files are; every public name is documented; and
no doc, message or public docstring sends users to an internal module."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ucdbench.discovery import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"
HOOKS = sorted(name for name, obj in vars(hookspecs).items()
               if name.startswith("ucdbench_") and inspect.isfunction(obj))


def test_there_are_hooks_to_document():
    assert "ucdbench_register_methods" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hook_has_a_page_with_its_signature_failure_behaviour_and_an_example(hook):
    assert getattr(hookspecs, hook).__doc__, f"{hook} has no docstring"
    page = DOCS / "hooks" / f"{hook}.md"
    assert page.is_file(), f"document {hook} in docs/hooks/{hook}.md"
    text = page.read_text()
    signature = str(inspect.signature(getattr(hookspecs, hook))).replace("'", "")
    assert f"def {hook}{signature}" in text, f"docs/hooks/{hook}.md must show `def {hook}{signature}`"
    for section in ("## Arguments", "## When something is wrong", "## Example"):
        assert section in text, f"docs/hooks/{hook}.md has no {section!r} section"
    example = text.split("## Example", 1)[1]
    assert "@hookimpl" in example and f"def {hook}(register)" in example and "register(" in example


def test_the_readme_points_to_the_hook_pages():
    readme = (DOCS.parent / "README.md").read_text()
    assert "docs/hooks/" in readme and "docs/writing-a-plugin.md" in readme


def test_no_page_documents_a_hook_that_does_not_exist():
    pages = {p.stem for p in (DOCS / "hooks").glob("*.md")}
    assert pages <= set(HOOKS), f"pages for hooks that do not exist: {sorted(pages - set(HOOKS))}"


def _producible_figures(registry, task_name: str) -> set[str]:
    """Every figure a run on ``task_name`` can show in a leaderboard: the task's metrics (the
    accuracy evaluation reports them, also on transformed inputs) and each evaluation's
    declared figures, by name and as ``evaluation/figure``."""
    task = registry.load("task", task_name)
    names = {m.name for m in task.metrics} | {f"{m.name}_transformed" for m in task.metrics}
    for evaluation in registry.names("evaluation"):
        declared = {f.name for f in registry.load("evaluation", evaluation).figures}
        names |= declared | {f"{evaluation}/{name}" for name in declared}
    return names


def test_every_paper_figure_names_a_task_and_a_figure_a_run_can_produce():
    from ucdbench.discovery.registry import load_registry

    registry = load_registry()
    wrong = []
    for method in registry.names("method"):
        for figure in registry.load("method", method).reported:
            if figure.task not in registry.entries["task"]:
                wrong.append(f"{method}: {figure.value} names task {figure.task!r}, which is not registered")
            elif figure.metric not in _producible_figures(registry, figure.task):
                wrong.append(f"{method}: {figure.value} names {figure.metric!r}, which no run on {figure.task} reports")
    assert not wrong, "\n".join(wrong)


# --------------------------------------------------------------------------------------------
# A page per kind of plugin, each including its example package by file
# --------------------------------------------------------------------------------------------

KIND_PAGES = ("method", "task", "evaluation", "hardware")
INCLUDE = re.compile(r"<!-- include: (?P<path>\S+) -->\n```\w*\n(?P<body>.*?)\n```", re.S)


@pytest.mark.parametrize("kind", KIND_PAGES)
def test_each_kind_has_a_page_linked_from_the_guide_and_the_readme(kind):
    page = DOCS / "plugins" / f"{kind}.md"
    assert page.is_file(), f"document the {kind} interface in docs/plugins/{kind}.md"
    text = page.read_text()
    for section in ("## What the harness calls, and when", "## Worked example"):
        assert section in text, f"docs/plugins/{kind}.md has no {section!r} section"
    assert f"plugins/{kind}.md" in (DOCS / "writing-a-plugin.md").read_text()
    assert f"docs/plugins/{kind}.md" in (DOCS.parent / "README.md").read_text()


@pytest.mark.parametrize("kind", KIND_PAGES)
def test_each_page_shows_its_example_package_exactly_as_the_files_are(kind):
    text = (DOCS / "plugins" / f"{kind}.md").read_text()
    included = {m["path"]: m["body"] for m in INCLUDE.finditer(text)}
    assert any(path.endswith("pyproject.toml") for path in included), f"docs/plugins/{kind}.md includes no example package"
    for path, body in included.items():
        file = DOCS.parent / path
        assert file.is_file(), f"docs/plugins/{kind}.md includes {path}, which does not exist"
        assert body == file.read_text().rstrip("\n"), (
            f"docs/plugins/{kind}.md shows an old {path}: paste the file's text into the block after its include line")
    package = Path(next(iter(included))).parts[2]
    shown = {Path(p).name for p in included}
    sources = {p.name for p in (DOCS / "examples" / package).rglob("*") if p.suffix in (".py", ".toml")}
    assert sources <= shown, f"docs/plugins/{kind}.md does not show {sorted(sources - shown)} of its example"


def test_every_public_name_is_documented_on_some_page():
    import ucdbench.api as api

    pages = "\n".join(p.read_text() for p in DOCS.rglob("*.md"))
    undocumented = [name for name in api.__all__ if not re.search(rf"\b{re.escape(name)}\b", pages)]
    assert not undocumented, f"no page under docs/ mentions {undocumented}"


# --------------------------------------------------------------------------------------------
# User-facing text points at ucdbench.api, never at an internal module
# --------------------------------------------------------------------------------------------

ROOT = DOCS.parent
INTERNAL = r"ucdbench\.(?!api\b)[a-z_]+"
IMPORTING_INTERNAL = re.compile(rf"from {INTERNAL} import|import {INTERNAL}\b")
NAME_IN_INTERNAL = re.compile(rf"{INTERNAL}\.[A-Za-z_]")


def _string_literals(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_no_doc_tells_users_to_import_an_internal_module():
    wrong = []
    for page in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if IMPORTING_INTERNAL.search(line) or NAME_IN_INTERNAL.search(line):
                wrong.append(f"{page.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not wrong, "point users at ucdbench.api instead:\n" + "\n".join(wrong)


def test_no_message_or_example_imports_an_internal_module():
    files = [*(ROOT / "bench").rglob("*.py"), *(ROOT / "plugins").rglob("*.py"), *DOCS.rglob("*.py")]
    wrong = [f"{path.relative_to(ROOT)}:{line}: {text.strip()[:120]}"
             for path in files for line, text in _string_literals(path) if IMPORTING_INTERNAL.search(text)]
    assert not wrong, "a message or string tells users to import an internal module:\n" + "\n".join(wrong)


def test_plugins_and_examples_name_no_internal_module():
    files = [*(ROOT / "plugins").rglob("*.py"), *DOCS.rglob("*.py")]
    wrong = [f"{path.relative_to(ROOT)}:{line}: {text.strip()[:120]}"
             for path in files for line, text in _string_literals(path) if re.search(INTERNAL, text)]
    assert not wrong, "plugins reach the harness through ucdbench.api alone:\n" + "\n".join(wrong)


def _public_docstrings() -> Iterator[tuple[str, str]]:
    import ucdbench.api as api

    yield "ucdbench.api", api.__doc__ or ""
    for hook in HOOKS:
        yield f"hook {hook}", getattr(hookspecs, hook).__doc__ or ""
    for name in api.__all__:
        obj = getattr(api, name)
        yield name, inspect.getdoc(obj) or ""
        if inspect.isclass(obj) and obj.__module__.startswith("ucdbench."):
            for member, value in vars(obj).items():
                doc = inspect.getdoc(value.__func__ if isinstance(value, classmethod) else value)
                if doc and not member.startswith("_") and callable(getattr(obj, member, None)):
                    yield f"{name}.{member}", doc


def test_the_public_api_docstrings_point_only_at_the_public_api():
    wrong = [f"{where}: {match.group(0)}" for where, doc in _public_docstrings()
             for match in re.finditer(INTERNAL, doc)]
    assert not wrong, "help(ucdbench.api.X) must not send users to an internal module:\n" + "\n".join(wrong)
