"""The small parts of code fingerprints (ucdbench.running.fingerprint) on their own: which names are
modules, how a distribution was installed (PEP 610's direct_url.json), and the version a module
outside the suite is fingerprinted by."""

from __future__ import annotations

import json
from importlib.metadata import version

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
