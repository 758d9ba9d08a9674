"""`ucdbench new-plugin` writes a package that installs, registers, and passes the conformance
kit — tested as its author would: install it, run its own test in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import run_cli


@pytest.mark.ucdbench_e2e
def test_a_new_plugin_installs_and_passes_the_kit(tmp_path):
    made = run_cli("new-plugin", "demo-head", "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    package = tmp_path / "ucdbench-demo-head"
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(package)], check=True, capture_output=True, timeout=300)
    env = {"PYTHONPATH": str(site)}
    listed = run_cli("list", env=env)
    assert "demo-head" in listed.stdout and "ucdbench-demo-head" in listed.stdout
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=package,
                            capture_output=True, text=True, timeout=900, env={**os.environ, **env})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout


def test_a_bad_name_or_an_existing_folder_is_a_usage_error(tmp_path):
    bad = run_cli("new-plugin", "no spaces", "--dir", str(tmp_path))
    assert bad.returncode == 2 and "is not a plugin name" in bad.stderr
    assert run_cli("new-plugin", "twice", "--dir", str(tmp_path)).returncode == 0
    again = run_cli("new-plugin", "twice", "--dir", str(tmp_path))
    assert again.returncode == 2 and "exists already" in again.stderr


def test_the_package_requires_the_python_ucdbench_itself_requires(tmp_path):
    import tomllib
    from importlib.metadata import metadata

    assert run_cli("new-plugin", "py-match", "--dir", str(tmp_path)).returncode == 0
    pyproject = tomllib.loads((tmp_path / "ucdbench-py-match" / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == metadata("ucdbench")["Requires-Python"]


@pytest.mark.parametrize(("name", "owner", "third_party"), [
    ("lora", "method 'lora' of plugin 'lora' (ucdbench ", False),
    ("digits", "task 'digits' of plugin 'digits' (ucdbench ", False),
    ("accuracy", "evaluation 'accuracy' of plugin 'evaluations' (ucdbench ", False),
    ("evaluations", "plugin 'evaluations' (ucdbench ", False),  # an entry-point name: its twin would be broken
    ("sleepy", "method 'sleepy' of plugin 'example' (ucdbench-example-plugin 0.3.0)", True),
])
def test_a_name_a_registered_plugin_has_is_refused_with_its_owner_and_a_free_name(tmp_path, name, owner, third_party):
    result = run_cli("new-plugin", name, "--dir", str(tmp_path), third_party=third_party)
    assert result.returncode == 2 and f"{name!r} is taken: {owner}" in result.stderr
    assert f"for example `ucdbench new-plugin my-{name}`" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written
