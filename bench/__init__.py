"""ucdbench: a plugin-based benchmark harness for efficient and robust deep learning.

The harness measures; plugins propose. Methods, tasks, hardware and evaluations are all
plugins discovered through the ``ucdbench`` entry-point group (see :mod:`ucdbench.api`, all a plugin imports).
This module stays import-light: ``ucdbench --help`` and ``ucdbench list`` never import torch.
"""

from importlib.metadata import PackageNotFoundError, version

from ucdbench.discovery.hookspecs import hookimpl

try:
    __version__ = version("ucdbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["hookimpl", "__version__"]
