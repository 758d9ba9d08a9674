"""Code fingerprints: a change in the code behind a result changes its run key and its cache
key; a change elsewhere does not."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ucdbench.running import fingerprint
from ucdbench.running.fingerprint import code_fingerprint, module_closure
from ucdbench.discovery.registry import load_registry
from ucdbench.running.runner import RunSpec, resolve


def test_the_closure_follows_imports_within_the_distribution_only():
    closure = module_closure("ucdbench.running.runner")
    assert "ucdbench.running.runner" in closure and "ucdbench.discovery.registry" in closure and "ucdbench.running.store" in closure
    assert not any(m.startswith(("torch", "pluggy")) for m in closure)
    assert "ucdbench.reporting.leaderboard" not in closure  # the runner does not import it


def _key(method: str, task: str = "digits") -> str:
    return resolve(load_registry(), RunSpec(method, task, "smoke", 0, "cpu", {})).key


def test_editing_a_method_reruns_that_method_only(edited):
    lora, full_ft = _key("lora"), _key("full-ft")
    edited(load_registry().get("method", "lora").target.partition(":")[0])
    assert _key("lora") != lora
    assert _key("full-ft") == full_ft


def test_editing_a_task_reruns_its_runs_and_editing_the_leaderboard_reruns_nothing(edited):
    digits, pydocs = _key("full-ft"), _key("full-ft", "pydocs")
    edited("ucdbench.reporting.leaderboard")
    assert (_key("full-ft"), _key("full-ft", "pydocs")) == (digits, pydocs)
    edited(load_registry().get("task", "pydocs").target.partition(":")[0])
    assert _key("full-ft", "pydocs") != pydocs and _key("full-ft") == digits


def test_an_in_suite_cache_entry_is_keyed_by_the_code_that_builds_it(edited, tmp_path, monkeypatch):
    from ucdbench.running.cache import cached_tensors

    import torch

    monkeypatch.setenv("UCDBENCH_CACHE", str(tmp_path))
    builds = []

    def build():
        builds.append(1)
        return {"w": torch.zeros(1)}

    pretraining = load_registry().load("task", "digits")._pretrain.__module__
    build.__module__ = pretraining  # as if build() were the image tasks' pretraining
    cached_tensors("kind", {"a": 1}, build)
    cached_tensors("kind", {"a": 1}, build)
    assert len(builds) == 1  # a hit
    edited("ucdbench.reporting.leaderboard")  # unrelated code
    cached_tensors("kind", {"a": 1}, build)
    assert len(builds) == 1
    edited(pretraining)  # the pretraining's own code
    cached_tensors("kind", {"a": 1}, build)
    assert len(builds) == 2  # rebuilt, not served


def test_a_third_party_module_is_fingerprinted_by_its_distribution_version():
    assert code_fingerprint("pluggy") == code_fingerprint("pluggy")
    assert code_fingerprint("pluggy") != code_fingerprint("tabulate")


# --------------------------------------------------------------------------------------------
# Distributions installed from source, and from an index
# --------------------------------------------------------------------------------------------

EDITABLE = {"url": "file:///home/someone/fakeplug", "dir_info": {"editable": True}}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def install(site: Path, package: str, direct_url: dict | None, version: str = "1.0", names: str = "top_level.txt",
            source: Path | None = None) -> dict[str, Path]:
    """A fake installed distribution in ``site``: ``package`` (``method`` imports ``core``, which
    imports ``helpers`` relatively; ``unrelated`` is imported by nothing) and its ``.dist-info``
    with ``direct_url`` as its direct_url.json (None: none, as an install from an index).

    ``names`` is how the metadata says which packages it installs: ``top_level.txt``, ``RECORD``
    (listing the files, as a non-editable install) or ``pth`` (a ``RECORD`` naming only a
    ``.pth`` file that puts ``source`` on sys.path, as a PEP 660 editable install by a back end
    that writes no top_level.txt)."""
    source = source or site
    files = {name: _write(source / package / f"{name}.py", text) for name, text in {
        "__init__": "",
        "method": f"from {package}.core import figure\n",
        "core": "from .helpers import VALUE\n\ndef figure():\n    return VALUE\n",
        "helpers": "VALUE = 1\n",
        "unrelated": "OTHER = 1\n",
    }.items()}
    info = site / f"{package}-{version}.dist-info"
    _write(info / "METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
    if direct_url is not None:
        _write(info / "direct_url.json", json.dumps(direct_url))
    if names == "top_level.txt":
        _write(info / "top_level.txt", f"{package}\n")
    elif names == "RECORD":
        _write(info / "RECORD", "".join(f"{p.relative_to(site).as_posix()},,\n" for p in files.values()))
    else:
        _write(site / f"_{package}.pth", f"{source}\n")
        _write(info / "RECORD", f"_{package}.pth,,\n{info.name}/METADATA,,\n")
    return files


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path to install fake distributions into; what they import is forgotten after."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    fingerprint.clear()
    yield folder
    for name in [m for m in sys.modules if m.startswith("fakeplug")]:
        del sys.modules[name]
    fingerprint.clear()


def _edit(path: Path) -> None:
    path.write_text(path.read_text() + "\n# an edit\n")
    fingerprint.clear()


@pytest.mark.parametrize("names, editable", [("top_level.txt", True), ("RECORD", False), ("pth", True)],
                         ids=["editable", "from-a-folder", "editable-by-pth"])
def test_a_distribution_installed_from_a_folder_is_fingerprinted_by_the_source_it_imports(site, tmp_path, monkeypatch,
                                                                                          names, editable):
    package = f"fakeplug_{names.replace('.', '_')}".lower()
    source = tmp_path / "project" / "src"
    files = install(site, package, {**EDITABLE, "dir_info": {"editable": editable}}, names=names,
                    source=source if names == "pth" else None)
    if names == "pth":
        monkeypatch.syspath_prepend(str(source))  # what the .pth does at start-up
    method = f"{package}.method"
    assert fingerprint.by_source(method)
    assert module_closure(method) == sorted(f"{package}{m}" for m in ("", ".core", ".helpers", ".method"))
    before = code_fingerprint(method)
    _edit(files["unrelated"])
    assert code_fingerprint(method) == before  # imported by nothing the method runs
    _edit(files["helpers"])  # imported by core, which the method imports
    changed = code_fingerprint(method)
    assert changed != before
    _edit(files["method"])
    assert code_fingerprint(method) not in (before, changed)


def test_editing_a_parent_package_s_init_changes_the_fingerprint_of_a_module_under_it(site):
    """The parent packages' ``__init__`` run before a module does, so they are part of its code,
    whether or not the module imports them."""
    files = {name: _write(site / "fakeplug_nested" / f"{name}.py", "") for name in
             ("__init__", "sub/__init__", "sub/leaf", "sub/other")}
    info = site / "fakeplug_nested-1.0.dist-info"
    _write(info / "METADATA", "Metadata-Version: 2.1\nName: fakeplug_nested\nVersion: 1.0\n")
    _write(info / "top_level.txt", "fakeplug_nested\n")
    _write(info / "direct_url.json", json.dumps(EDITABLE))
    leaf = "fakeplug_nested.sub.leaf"  # imports nothing
    assert module_closure(leaf) == ["fakeplug_nested", "fakeplug_nested.sub", leaf]
    fingerprints = [code_fingerprint(leaf)]
    _edit(files["sub/other"])  # a sibling it does not import
    assert code_fingerprint(leaf) == fingerprints[0]
    for parent in ("sub/__init__", "__init__"):
        _edit(files[parent])
        fingerprints.append(code_fingerprint(leaf))
    assert len(set(fingerprints)) == 3


@pytest.mark.parametrize("direct_url", [
    None,  # a wheel from an index writes no direct_url.json
    {"url": "file:///wheels/fakeplug-1.0-py3-none-any.whl", "archive_info": {}},
    {"url": "https://github.com/someone/fakeplug", "dir_info": {}},
    {"url": "https://github.com/someone/fakeplug.git", "vcs_info": {"vcs": "git", "commit_id": "0" * 40}},
], ids=["index", "local-wheel", "remote-url", "vcs"])
def test_a_distribution_not_installed_from_a_folder_is_fingerprinted_by_its_version(site, direct_url):
    files = install(site, "fakeplug_wheel", direct_url, names="RECORD")
    method = "fakeplug_wheel.method"
    assert not fingerprint.by_source(method) and module_closure(method) == []
    before = code_fingerprint(method)
    _edit(files["helpers"])
    _edit(files["method"])
    assert code_fingerprint(method) == before  # its files are a release's: its version says which
    (site / "fakeplug_wheel-1.0.dist-info").rename(site / "fakeplug_wheel-1.1.dist-info")
    _write(site / "fakeplug_wheel-1.1.dist-info" / "METADATA",
           "Metadata-Version: 2.1\nName: fakeplug_wheel\nVersion: 1.1\n")
    fingerprint.clear()
    assert code_fingerprint(method) != before


FRESH_METHOD = '''
from ucdbench.api import ImageClassification, Method, Outcome

EDITION = {edition}


class Fresh(Method):
    name = "fresh"
    requires = (ImageClassification,)

    def fit(self, task, config, ctx):
        return Outcome(model=task.base_model(pretrained=True).to(ctx.device).eval(), metrics={{"edition": EDITION}})
'''


@pytest.mark.ucdbench_e2e
def test_an_edited_plugin_installed_from_source_reruns_with_its_new_figure(tmp_path):
    from conftest import run_cli

    site, results = tmp_path / "site", tmp_path / "results"
    _write(site / "ucdbench_fresh" / "__init__.py",
           "from ucdbench import hookimpl\n\n\n@hookimpl\ndef ucdbench_register_methods(register):\n"
           "    register('fresh', 'ucdbench_fresh.method:Fresh', summary='reports which edition of its code ran')\n")
    method = _write(site / "ucdbench_fresh" / "method.py", FRESH_METHOD.format(edition=1))
    info = site / "ucdbench_fresh-0.1.0.dist-info"
    _write(info / "METADATA", "Metadata-Version: 2.1\nName: ucdbench-fresh\nVersion: 0.1.0\n")
    _write(info / "entry_points.txt", "[ucdbench]\nfresh = ucdbench_fresh\n")
    _write(info / "top_level.txt", "ucdbench_fresh\n")
    _write(info / "direct_url.json", json.dumps({"url": site.as_uri(), "dir_info": {"editable": True}}))
    env = {"PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"}  # no .pyc that an edit within a second could hide

    def run() -> tuple[str, list[dict]]:
        result = run_cli("run", "--method", "fresh", "--task", "digits", "--preset", "smoke", results=results, env=env)
        assert result.returncode == 0, result.stderr
        records = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
        return result.stdout, records

    first, records = run()
    assert "(cached)" not in first and [r["method_metrics"]["edition"] for r in records] == [1]
    second, records = run()
    assert "(cached)" in second and len(records) == 1
    method.write_text(FRESH_METHOD.format(edition=2))
    third, records = run()
    assert "(cached)" not in third
    assert sorted(r["method_metrics"]["edition"] for r in records) == [1, 2]  # a new run, with the new figure
