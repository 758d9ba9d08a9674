"""The small parts of code fingerprints (ucdbench.running.fingerprint) on their own: which names are
modules, how a distribution was installed (PEP 610's direct_url.json), and the version a module
outside the suite is fingerprinted by."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path, PurePosixPath

from ucdbench.running.fingerprint import _distribution_version, _installed_from_folder, _is_module


class FakeDistribution:
    """A distribution whose direct_url.json holds ``text`` (None: it has none)."""

    def __init__(self, text: str | None) -> None:
        self.text = text

    def read_text(self, name: str) -> str | None:
        return self.text if name == "direct_url.json" else None


def test_a_module_is_a_name_with_python_source():
    assert _is_module("ucdbench.running.store") and not _is_module("ucdbench.running.no_such_module")
    assert not _is_module("sys")  # built in: no source to fingerprint


def test_installed_from_a_folder_means_a_file_url_with_dir_info():
    def installed(text: str | None) -> bool:
        return _installed_from_folder(FakeDistribution(text))

    assert installed(json.dumps({"url": "file:///work/repo", "dir_info": {"editable": True}}))
    assert installed(json.dumps({"url": "file:///work/repo", "dir_info": {}}))
    assert not installed(json.dumps({"url": "https://example.org/x.tar.gz", "dir_info": {}}))
    assert not installed(json.dumps({"url": "file:///work/x.whl", "archive_info": {}}))
    assert not installed(None) and not installed("") and not installed("{torn") and not installed("[1]")


def test_a_module_outside_the_suite_is_known_by_its_top_level_distribution():
    assert _distribution_version("scipy.stats._distn_infrastructure") == f"scipy=={version('scipy')}"
    assert _distribution_version("no_such_package.module") == "no_such_package.module (no distribution)"


class FakeFile:
    """A file a distribution's RECORD lists, at ``site / path``."""

    def __init__(self, site: Path, path: str) -> None:
        self.path, self.site = PurePosixPath(path), site
        self.parts, self.suffix = self.path.parts, self.path.suffix

    def with_suffix(self, suffix: str) -> PurePosixPath:
        return self.path.with_suffix(suffix)

    def locate(self) -> Path:
        return self.site / self.path


class FakeInstalled:
    def __init__(self, site: Path, files: list[str], top_level: str | None = None) -> None:
        self.files = [FakeFile(site, f) for f in files]
        self.top_level = top_level

    def read_text(self, name: str) -> str | None:
        return self.top_level if name == "top_level.txt" else None


def test_a_distribution_s_packages_are_its_declared_ones_its_record_s_and_those_its_pth_folders_hold(tmp_path):
    from ucdbench.running.fingerprint import _top_level_packages

    site, source = tmp_path / "site", tmp_path / "src"
    (source / "pkg_a").mkdir(parents=True)
    (source / "mod_b.py").write_text("")
    (source / "notes.txt").write_text("")
    (source / "not-an-identifier").mkdir()
    (site / "sitepkg").mkdir(parents=True)  # the site folder itself is no .pth folder
    (site / "__editable__.x.pth").write_text(f"# a comment\nimport hook; hook.install()\n\n{source}\nmissing/\n")
    files = ["onefile.py", "pkg/__init__.py", "pkg/sub.py", "pkg-1.0.dist-info/RECORD", "__editable__.x.pth",
             "absent.pth"]
    assert _top_level_packages(FakeInstalled(site, files)) == {"onefile", "pkg", "pkg_a", "mod_b"}
    assert _top_level_packages(FakeInstalled(site, files, top_level="declared\n")) == {"declared", "pkg_a", "mod_b"}


def test_a_package_that_several_distributions_provide_is_known_by_each_of_their_versions(monkeypatch):
    from ucdbench.running import fingerprint

    # "shared" is provided by two distributions (one listed twice, as packages_distributions may)
    monkeypatch.setattr(fingerprint, "_packages_distributions", lambda: {"shared": ["dist_b", "dist_a", "dist_b"]})
    monkeypatch.setattr(fingerprint, "version", {"dist_a": "1.0", "dist_b": "2.5"}.__getitem__)
    assert _distribution_version("shared.sub") == "dist_a==1.0,dist_b==2.5"
