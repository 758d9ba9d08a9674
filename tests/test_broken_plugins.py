"""A broken third-party distribution installed beside ucdbench, end to end through the CLI as a
user meets it: it is named where ucdbench can see it, every command that loads it exits 2 with
the reason (never a traceback), everything else keeps working, and the project's own tests stay
green. The distribution (tests/third_party/broken) has a method without ``fit()`` registered
lazily, one registered directly, a method whose setting is declared wrongly, and a name a
built-in has."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import THIRD_PARTY, run_cli

pytestmark = pytest.mark.ucdbench_e2e

BROKEN = {"PYTHONPATH": str(THIRD_PARTY / "broken")}
ABSTRACT = "is abstract: it does not define fit(), which every ucdbench.api.Method must; define it in the class"
WRONG_SETTING = ("its setting 'epochs' is declared wrongly: minimum=1 bounds numbers, but the setting takes a string "
                 "(its default is 'three')")


def _no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def test_list_and_plugins_name_the_plugin_broken_at_registration_and_keep_the_lazy_one_they_cannot_check():
    listing = run_cli("list", "--json", env=BROKEN)
    assert listing.returncode == 0, listing.stderr
    listed = json.loads(listing.stdout)
    [broken] = listed["broken"]
    assert broken["name"] == "broken-direct" and "DirectNoFit " + ABSTRACT in broken["error"]
    methods = {m["name"]: m["plugin"] for m in listed["method"]}
    assert "direct-no-fit" not in methods and methods["base"] == "full-ft"
    assert methods["no-fit"] == methods["three-epochs"] == "broken-lazy"  # list imports no target: it cannot know
    assert [(c["name"], c["plugin"]) for c in listed["collisions"]] == [("base", "broken-lazy")]
    plugins = {p["name"]: p for p in json.loads(run_cli("plugins", "--json", env=BROKEN).stdout)}
    assert ABSTRACT in plugins["broken-direct"]["error"] and plugins["broken-direct"]["registered"] == {}
    assert plugins["broken-lazy"]["registered"] == {"method": ["no-fit", "three-epochs"]}
    assert [lost["name"] for lost in plugins["broken-lazy"]["lost"]] == ["base"]


def test_list_matrix_prints_every_method_that_loads_marks_the_rest_with_the_reason_and_exits_2():
    result = run_cli("list", "--matrix", env=BROKEN)
    assert result.returncode == 2
    _no_traceback(result)
    # a row: the method, then per task ✓ or "– [n]", n the footnote with the reason
    rows = {line.split()[0]: re.findall(r"✓|\[\d+\]", line)
            for line in result.stdout.splitlines()[3:] if line.strip()}
    assert rows["base"][0] == "✓" and rows["lora"][0] == "✓"  # the working plugins' rows, as without it
    footnotes = dict(line.split(" ", 1) for line in result.stdout.splitlines() if line.startswith("["))
    for method, problem in (("no-fit", "NoFit " + ABSTRACT), ("three-epochs", WRONG_SETTING)):
        reason = footnotes[rows[method][0]]
        assert reason.startswith(f"the method does not load: method {method!r} of plugin 'broken-lazy'")
        assert problem in reason and set(rows[method]) == {rows[method][0]}  # the same reason on every task
        assert f"ucdbench: error: method {method!r} does not load:" in result.stderr
    assert "ucdbench: error: plugin 'broken-direct' (ucdbench-broken-plugin 1.0) is broken" in result.stderr
    as_json = run_cli("list", "--matrix", "--json", env=BROKEN)
    assert as_json.returncode == 2
    matrix = json.loads(as_json.stdout)
    assert matrix["base"]["digits"] is None and ABSTRACT in matrix["no-fit"]["digits"]


def test_run_of_a_working_method_warns_about_the_broken_plugin_and_the_lost_name_then_succeeds(tmp_path: Path):
    result = run_cli("run", "--method", "base", "--task", "digits", "--preset", "smoke", results=tmp_path, env=BROKEN)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    warnings = [line for line in lines if line.startswith("ucdbench: warning: ")]
    assert len(warnings) == 2, result.stderr
    assert "plugin 'broken-direct' (ucdbench-broken-plugin 1.0) is broken" in warnings[0]
    assert ABSTRACT in warnings[0] and warnings[0].endswith("UCDBENCH_DISABLE_PLUGINS=broken-direct")
    assert "method 'base' of plugin 'broken-lazy' (ucdbench-broken-plugin 1.0) is not registered" in warnings[1]
    assert "UCDBENCH_DISABLE_PLUGINS=full-ft" in warnings[1]
    assert lines.index(warnings[-1]) < next(i for i, line in enumerate(lines) if line.startswith("→ base on digits"))
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert record["status"] == "ok" and record["method"]["name"] == "base"


@pytest.mark.parametrize(("method", "expected"), [
    ("no-fit", f"method 'no-fit' of plugin 'broken-lazy' (ucdbench-broken-plugin 1.0), loaded from "
               f"'ucdbench_broken_plugin.methods:NoFit', cannot be used: class ucdbench_broken_plugin.methods.NoFit "
               f"{ABSTRACT}"),
    ("three-epochs", WRONG_SETTING),
    ("direct-no-fit", "unknown method 'direct-no-fit'. Did you mean 'no-fit'?"),
])
def test_run_and_check_plugin_of_a_broken_method_exit_2_with_the_reason_before_anything_runs(tmp_path, method,
                                                                                              expected):
    run = run_cli("run", "--method", method, "--task", "digits", "--preset", "smoke", results=tmp_path, env=BROKEN)
    assert run.returncode == 2 and expected in run.stderr, run.stderr
    _no_traceback(run)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
    check = run_cli("check-plugin", method, env=BROKEN)
    assert check.returncode == 2, check.stdout + check.stderr
    _no_traceback(check)
    reason = expected if method != "direct-no-fit" else f"DirectNoFit {ABSTRACT}"
    assert reason in check.stderr and "UCDBENCH_DISABLE_PLUGINS=broken-" in check.stderr


def test_set_values_are_still_validated_beside_a_broken_plugin(tmp_path: Path):
    result = run_cli("run", "--method", "lora", "--task", "digits", "--preset", "smoke", "--set", "rank=-3",
                     results=tmp_path, env=BROKEN)
    assert result.returncode == 2
    assert "method 'lora': rank=-3: -3 is not allowed: expected an integer ≥ 1" in result.stderr


def test_the_projects_own_tests_stay_green_with_a_broken_plugin_installed_beside_it():
    """tests/conftest.py disables every third-party plugin visible when the session starts; here
    a session starts with the broken distribution installed (on PYTHONPATH) and runs a quick part
    of the suite that asserts on the registry as a whole (no broken plugin, every built-in
    loads), which fails without that isolation."""
    env = {key: value for key, value in os.environ.items() if key != "UCDBENCH_DISABLE_PLUGINS"} | BROKEN
    seen = subprocess.run([str(Path(sys.executable).parent / "ucdbench"), "plugins", "--json"], capture_output=True,
                          text=True, timeout=120, env=env)
    assert any(p["name"] == "broken-direct" and p["error"] for p in json.loads(seen.stdout)), "not installed"
    root = Path(__file__).parent.parent
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                             "tests/test_plugins.py", "tests/test_registration.py"],
                            capture_output=True, text=True, timeout=600, env=env, cwd=root)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
