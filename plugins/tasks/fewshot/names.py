"""The names a folder's classes are prompted by ("a photo of a {name}.").

The official episodes name each class folder ``<WordNet id>_<ImageNet label>`` and
``genie.py`` prompts with what follows the id (``cls_names = [c[10:] for c in cls_path]``),
the ImageNet label with its synonyms ("house finch, linnet, Carpodacus mexicanus"). The
standard mini- and tiered-ImageNet layouts name folders by the id alone (``n01532829``), which
as a name would prompt "a photo of a n01532829"; so a bare WordNet id is named by the ImageNet
label, from ``imagenet_classes.tsv``: the 1,000 ImageNet-1k classes (every mini-ImageNet and
tiered-ImageNet class is one), the labels of the official ``imagenet_labels.py`` (written from
timm's ``imagenet_synsets.txt`` and ``imagenet_synset_to_lemma.txt``, which give the same
strings). A file of the user's (``task.class_names``) names folders first; a bare id found in
neither is a usage error, where the official code would prompt with an empty name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path

from ucdbench.api import UcdbenchError

WORDNET_ID = re.compile(r"n\d{8}")
NAMES_FILE_FORMAT = "one class a line: the folder's name, a tab, the name prompts use"


@cache
def imagenet_names() -> dict[str, str]:
    """WordNet id → ImageNet-1k label, for the 1,000 classes."""
    text = resources.files(__package__).joinpath("imagenet_classes.tsv").read_text(encoding="utf-8")
    return dict(line.split("\t", 1) for line in text.splitlines())


def read_names_file(path: str) -> dict[str, str]:
    """A user's names file (:data:`NAMES_FILE_FORMAT`; blank lines and ``#`` lines skipped)."""
    names = {}
    for number, line in enumerate(Path(path).expanduser().read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        folder, tab, name = line.partition("\t")
        if not tab or not folder.strip() or not name.strip():
            raise UcdbenchError(f"task.class_names={path}: line {number} {line!r} is not {NAMES_FILE_FORMAT}")
        names[folder.strip()] = name.strip()
    return names


def class_name(folder: str, names: Mapping[str, str]) -> str | None:
    """The prompt name of class folder ``folder``: the user's, the ImageNet label of a bare
    WordNet id, what follows ``<id>_`` (as the official code), else the folder's name with '_'
    read as a space; None for a bare WordNet id that no list names."""
    if folder in names:
        return names[folder]
    if WORDNET_ID.fullmatch(folder):
        return imagenet_names().get(folder)
    if WORDNET_ID.fullmatch(folder[:9]) and folder[9:10] == "_" and folder[10:]:
        return folder[10:].replace("_", " ")
    return folder.replace("_", " ")


def unnamed_problem(folders: Iterable[str], names: Mapping[str, str], names_file: str) -> str | None:
    """None when every class folder has a name; otherwise which do not and how to name them."""
    unnamed = sorted(folder for folder in folders if class_name(folder, names) is None)
    if not unnamed:
        return None
    shown = ", ".join(unnamed[:5]) + (f" and {len(unnamed) - 5} more" if len(unnamed) > 5 else "")
    where = f"neither in task.class_names={names_file} nor " if names_file else ""
    return (f"class folders {shown} are WordNet ids {where}among ImageNet-1k's 1,000 classes (which hold every "
            f"mini- and tiered-ImageNet class), so prompts could not name them: give task.class_names=FILE, "
            f"{NAMES_FILE_FORMAT}")
