"""Reading a local image dataset: an ImageFolder tree or a ``datasets`` copy.

Both give (PIL RGB image, label) pairs, so the task applies the same transforms to either.
The suite never downloads ImageNet (its licence needs a sign-up): users point at their copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ucdbench.api import UcdbenchError

EVAL_SPLITS = ("val", "validation", "test")
IMAGE_LAYOUT = (
    "an ImageFolder tree with train/ and val/ folders of one subfolder per class, or a "
    "datasets.DatasetDict saved with save_to_disk (splits train and validation, columns image and label)"
)


class HubImages:
    """A split of a ``datasets`` copy as a map-style dataset of (PIL image, label)."""

    def __init__(self, split: Any) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        row = self.split[int(index)]
        return row["image"].convert("RGB"), int(row["label"])


def split_folders(root: Path) -> tuple[Path, Path] | None:
    """(train/, the eval split's folder: val/, validation/ or test/) of a dataset folder, or None
    when either is missing; only that the folders exist is checked."""
    eval_dir = next((root / s for s in EVAL_SPLITS if (root / s).is_dir()), None)
    return (root / "train", eval_dir) if (root / "train").is_dir() and eval_dir is not None else None


def is_saved_dataset(root: Path) -> bool:
    """Whether ``root`` is a ``datasets.DatasetDict`` written by ``save_to_disk``."""
    return (root / "dataset_dict.json").exists()


def open_splits(root: Path) -> tuple[Any, Any, list[str]]:
    """(train, eval, class names) as datasets of (PIL image, label), untransformed."""
    if is_saved_dataset(root):
        import datasets

        data = datasets.load_from_disk(str(root))
        eval_split = next((s for s in EVAL_SPLITS if s in data), None)
        if "train" not in data or eval_split is None:
            raise UcdbenchError(f"the datasets copy at {str(root)!r} has splits {list(data)}; it needs {IMAGE_LAYOUT}")
        label = data["train"].features["label"]
        names = list(label.names) if hasattr(label, "names") else [str(i) for i in range(max(data["train"]["label"]) + 1)]
        return HubImages(data["train"]), HubImages(data[eval_split]), names
    from torchvision.datasets import ImageFolder

    folders = split_folders(root)
    if folders is None:
        raise UcdbenchError(f"{str(root)!r} has no train/ and val/ folders; it needs {IMAGE_LAYOUT}")
    train_dir, eval_dir = folders
    train, evaluation = ImageFolder(str(train_dir)), ImageFolder(str(eval_dir))
    if train.classes != evaluation.classes:
        raise UcdbenchError(
            f"the class folders of {str(root / 'train')!r} and {str(eval_dir)!r} differ "
            f"({len(train.classes)} vs {len(evaluation.classes)} classes); they must be the same"
        )
    return train, evaluation, list(train.classes)


def labels_of(dataset: Any) -> list[int]:
    """The label of every item of a dataset from :func:`open_splits` or any dataset with
    ``targets`` (or a ``Subset`` of one), read from its index, without decoding an image."""
    from torch.utils.data import Subset

    if isinstance(dataset, Subset):
        parent = labels_of(dataset.dataset)
        return [parent[i] for i in dataset.indices]
    if isinstance(dataset, HubImages):
        return [int(label) for label in dataset.split["label"]]
    return [int(label) for label in dataset.targets]


def file_names(dataset: Any) -> list[str]:
    """The file (or folder) name of every item of a dataset with ``samples`` of (path, label),
    as an ImageFolder split (or a ``Subset`` of one): what the official semi-supervised subsets
    (``10percent.txt``) list."""
    from torch.utils.data import Subset

    if isinstance(dataset, Subset):
        parent = file_names(dataset.dataset)
        return [parent[i] for i in dataset.indices]
    if isinstance(dataset, HubImages):
        raise UcdbenchError("task.labelled_list names image files, which a saved datasets copy does not have: "
                            "use an ImageFolder tree, or task.labelled_fraction instead")
    return [Path(path).name for path, _ in dataset.samples]
