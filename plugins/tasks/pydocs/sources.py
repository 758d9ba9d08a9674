"""Adaptation text with a real domain shift: the Python source files of the standard library.

``task.dataset=pysource`` adapts the base pretrained on pydoc *prose* to Python *code*, read
from the running interpreter's standard library (``sysconfig.get_paths()["stdlib"]``), so it
ships with every CPython and needs no download. The files that may be chosen (:func:`stdlib_files`)
are every ``*.py`` there but

- ``pydoc_data/`` (it holds the pretraining text itself, as string literals) and any file that
  shares a passage with the pydoc topics (:class:`SharedPassages`; ``pdb.py``'s docstring, for
  one, has 178 bytes of the ``debugger`` topic), so no pretraining text reaches the adaptation
  splits;
- test suites (``test/``, ``tests/``, ``idle_test/``), installed packages (``site-packages``,
  ``dist-packages``), the build's own ``_sysconfigdata*`` and ``config-*/`` (paths of the
  machine that built Python), and the parts Linux distributions ship as separate packages
  (``idlelib``, ``tkinter``, ``turtle.py``, ``turtledemo``, ``lib2to3``, ``distutils``,
  ``ensurepip``), so that the same Python version gives the same files on every machine;
- ``encodings/``: its codec modules are mostly generated character tables, not code people write;
- files that are not UTF-8.

:func:`split_sources` then walks the files in the order of the SHA-256 of their path relative
to that folder (stable, unrelated to subject) and puts each whole file into the first split,
eval before train, that has room left for it under its byte budget; so the split depends only on
the files and the budgets, and the budgets are never exceeded. A file in eval is never in train.
:class:`SourceCorpus` records what was read (Python version, folder, files and bytes per split,
SHA-256 of each split's text), so two machines can tell whether they scored the same text.
"""

from __future__ import annotations

import hashlib
import platform
import sysconfig
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ucdbench.api import UcdbenchError
from ucdbench_plugins.tasks.pydocs.passages import PASSAGE

SOURCE_SPLITS = ("eval", "train")
"""The order in which a file is offered to the splits."""
LEFT_OUT_PARTS = frozenset({
    "pydoc_data", "test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__",
    "idlelib", "tkinter", "turtledemo", "lib2to3", "distutils", "ensurepip", "encodings",
})
"""Folders (or top-level modules) of the standard library whose files are never chosen."""
LEFT_OUT_NAMES = frozenset({"turtle.py"})


def stdlib_folder() -> Path:
    """The running interpreter's standard-library folder (a virtual environment's base's)."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(root: Path) -> dict[str, Path]:
    """Relative POSIX path → file, for every ``*.py`` under ``root`` that may be chosen."""
    files = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        parts = relative.parts
        if (LEFT_OUT_PARTS & set(parts) or relative.name in LEFT_OUT_NAMES or relative.name.startswith("_sysconfigdata")
                or parts[0].startswith("config-") or not path.is_file()):
            continue
        files[relative.as_posix()] = path
    return files


class SharedPassages:
    """Finds text that shares a passage of :data:`PASSAGE` bytes with ``reference``.

    Every such passage contains one of the reference's pieces of half that length that start
    at multiples of it, so looking up each window of that length of a text in the set of those
    pieces finds every shared passage of :data:`PASSAGE` bytes (and some a little shorter,
    which are left out too: erring on the side of leaving a file out).
    """

    def __init__(self, reference: Iterable[str]) -> None:
        self.width = PASSAGE // 2
        data = "\0".join(reference).encode()
        self.pieces = {data[i:i + self.width] for i in range(0, len(data) - self.width + 1, self.width)}

    def found_in(self, text: str) -> bool:
        data, width = text.encode(), self.width
        return any(data[i:i + width] in self.pieces for i in range(len(data) - width + 1))


def split_sources(files: Mapping[str, Path], budgets: Mapping[str, int], shared: SharedPassages) -> dict[str, dict[str, str]]:
    """Split → {relative path: text} of whole files, each split within its byte budget
    (``budgets["eval"]``, ``budgets["train"]``); see the module's docstring for the rule."""
    chosen: dict[str, dict[str, str]] = {split: {} for split in SOURCE_SPLITS}
    room = {split: budgets[split] for split in SOURCE_SPLITS}
    for name in sorted(files, key=lambda name: hashlib.sha256(name.encode()).hexdigest()):
        size = files[name].stat().st_size
        split = next((s for s in SOURCE_SPLITS if size <= room[s]), None)
        if split is None or size == 0:
            continue
        try:
            text = files[name].read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            continue
        if shared.found_in(text):
            continue
        chosen[split][name] = text
        room[split] -= size
    for split in SOURCE_SPLITS:
        if not chosen[split]:
            raise UcdbenchError(f"no standard-library source file fits task.source_{split}_bytes={budgets[split]}; "
                                "raise it (the smallest files are a few hundred bytes)")
    return chosen


@dataclass(frozen=True)
class SourceCorpus:
    """What :func:`read_sources` read: enough to tell whether two machines scored the same text."""

    python: str
    folder: str
    files: dict[str, int]
    bytes: dict[str, int]
    sha256: dict[str, str]
    documents: dict[str, list[str]]
    """Split → the files' texts, in path order (not part of the description)."""

    def describe(self) -> dict[str, object]:
        return {"python": self.python, "folder": self.folder, "files": self.files, "bytes": self.bytes,
                "sha256": self.sha256}


def read_sources(budgets: Mapping[str, int], pretraining_text: Iterable[str], root: Path | None = None) -> SourceCorpus:
    """The train and eval documents of ``task.dataset=pysource``: standard-library files with no
    passage of ``pretraining_text``, within ``budgets`` bytes per split."""
    root = stdlib_folder() if root is None else root
    chosen = split_sources(stdlib_files(root), budgets, SharedPassages(pretraining_text))
    documents = {split: [chosen[split][name] for name in sorted(chosen[split])] for split in SOURCE_SPLITS}
    return SourceCorpus(
        python=platform.python_version(), folder=str(root),
        files={split: len(chosen[split]) for split in SOURCE_SPLITS},
        bytes={split: sum(len(text.encode()) for text in documents[split]) for split in SOURCE_SPLITS},
        sha256={split: hashlib.sha256("\0".join(documents[split]).encode()).hexdigest() for split in SOURCE_SPLITS},
        documents=documents,
    )
