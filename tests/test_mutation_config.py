"""The mutation-testing configuration (pyproject.toml, [tool.ucdbench-mutation]) names files that
exist, and every module it mutates has its row in docs/mutation-survivors.md, so that neither the
weekly campaign (.ci/mutation) nor its reading rots as files move."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ucdbench-mutation"]


def test_every_mutated_module_and_test_file_exists():
    modules = SETTINGS["modules"]
    assert modules
    for module, tests in modules.items():
        assert module.startswith(("bench/", "plugins/")) and (ROOT / module).is_file(), module
        assert tests, f"{module}: no test file checks its mutants"
        for test in tests:
            path, _, name = test.partition("::")
            assert (ROOT / path).is_file(), f"{module}: {test}"
            assert not name or f"def {name}(" in (ROOT / path).read_text(), f"{module}: {test}"
    for extra in SETTINGS["also_copy"]:
        assert (ROOT / extra).exists(), extra


def test_every_restricted_module_is_mutated_and_defines_its_functions():
    for module, functions in SETTINGS.get("functions", {}).items():
        assert module in SETTINGS["modules"], f"{module}: restricted to functions but not mutated"
        assert functions, f"{module}: restricted to no function"
        source = (ROOT / module).read_text()
        for name in functions:
            assert f"def {name}(" in source, f"{module}: no function {name}"


def test_every_mutated_module_has_its_row_in_the_survivors_page():
    page = (ROOT / "docs" / "mutation-survivors.md").read_text()
    missing = [module for module in SETTINGS["modules"] if f"| `{module}` |" not in page]
    assert not missing, f"docs/mutation-survivors.md has no kill-rate row for {', '.join(missing)}"
