"""ucdbench's pytest plugin for plugin authors (entry point ``pytest11``: loaded by pytest
wherever ucdbench is installed).

::

    def test_my_plugin_conforms(ucdbench_conformance):
        ucdbench_conformance("my-method")            # or ("my-method", task="mnist")

The fixture runs the conformance kit (:mod:`ucdbench.authoring.conformance`, the same checks as
``ucdbench check-plugin NAME``) and fails the test with every check that did not pass.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ucdbench.authoring.conformance import Check, assert_conforms, check_plugin

__all__ = ["Check", "assert_conforms", "check_plugin", "ucdbench_conformance"]


@pytest.fixture
def ucdbench_conformance() -> Callable[..., list[Check]]:
    """``ucdbench_conformance(name, task=None)`` → the passed checks; fails on any other."""
    return assert_conforms
