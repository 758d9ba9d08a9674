"""Every hook is documented (datasette style): a page per hookspec with its signature, its
arguments, what happens when something is wrong, and an example."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from ucdbench import hookspecs

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
    from ucdbench.plugins import load_registry

    registry = load_registry()
    wrong = []
    for method in registry.names("method"):
        for figure in registry.load("method", method).reported:
            if figure.task not in registry.entries["task"]:
                wrong.append(f"{method}: {figure.value} names task {figure.task!r}, which is not registered")
            elif figure.metric not in _producible_figures(registry, figure.task):
                wrong.append(f"{method}: {figure.value} names {figure.metric!r}, which no run on {figure.task} reports")
    assert not wrong, "\n".join(wrong)
