"""The text of the ``pydocs`` task: CPython's pydoc topics, split by topic, as byte tokens.

``pydoc_data.topics.topics`` ships with every CPython (about 80 topics, ~465 KB of English
prose on the language), so the task needs no download. Splitting by *topic* rather than by
position keeps the pretraining, training and eval text about different subjects, so a
pretrained base does not simply remember the eval text.

Tokens are UTF-8 bytes (ids 0–255) plus one end-of-text id (256) after each document. A
byte vocabulary needs no training, no cache and no hub, cannot be fitted to (and so leak) the
eval text, and makes bits per byte an exact, tokenizer-free figure; the cost, shorter context
in words per block, does not matter for comparing methods on one task.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping

import torch

from ucdbench.interfaces import UcdbenchError

END_OF_TEXT = 256
VOCAB_SIZE = 257
SPLITS = ("pretrain", "train", "eval")


def pydoc_topics() -> dict[str, str]:
    """Topic name → text, from the running CPython's ``pydoc_data``."""
    from pydoc_data.topics import topics

    return dict(topics)


def split_topics(topics: Mapping[str, str], pretrain_fraction: float, eval_fraction: float) -> dict[str, list[str]]:
    """Assign whole topics to pretrain / train / eval by share of bytes.

    Topics are walked in the order of the SHA-256 of their names (stable across runs and
    Python builds, unrelated to subject) and each goes to the split whose share of the bytes
    is not yet filled, so the split depends on nothing but the topics themselves.
    """
    if not (0 < pretrain_fraction and 0 < eval_fraction and pretrain_fraction + eval_fraction < 1):
        raise UcdbenchError(
            f"task.pretrain_fraction={pretrain_fraction} and task.eval_fraction={eval_fraction} must be "
            "positive and sum to less than 1 (the rest is the training split)"
        )
    order = sorted(topics, key=lambda name: hashlib.sha256(name.encode()).hexdigest())
    total = sum(len(topics[name].encode()) for name in order)
    bounds = (pretrain_fraction * total, (1 - eval_fraction) * total)
    splits: dict[str, list[str]] = {split: [] for split in SPLITS}
    filled = 0
    for name in order:
        split = "pretrain" if filled < bounds[0] else "train" if filled < bounds[1] else "eval"
        splits[split].append(name)
        filled += len(topics[name].encode())
    return splits


def encode(documents: Iterable[str]) -> torch.Tensor:
    """One LongTensor stream: each document's UTF-8 bytes followed by the end-of-text id."""
    ids: list[int] = []
    for text in documents:
        ids.extend(text.encode())
        ids.append(END_OF_TEXT)
    return torch.tensor(ids, dtype=torch.long)


def blocks(stream: torch.Tensor, block_size: int) -> torch.Tensor:
    """Non-overlapping (N, block_size) blocks of ``stream``; the remainder is dropped."""
    n = len(stream) // block_size
    if n == 0:
        raise UcdbenchError(f"the text ({len(stream)} tokens) is shorter than task.block_size={block_size}")
    return stream[: n * block_size].view(n, block_size)


def hub_documents(name: str) -> dict[str, list[str]]:
    """Train and eval documents of a Hugging Face dataset (its ``train`` split and its
    ``validation`` or else ``test`` split); each row's string columns are joined into one
    document, e.g. E2E's meaning representation followed by its reference text."""
    import datasets

    try:
        data = datasets.load_dataset(name)
    except Exception as exc:
        offline = [v for v in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE") if os.environ.get(v, "") not in ("", "0")]
        why = (
            f"{' and '.join(offline)} {'is' if len(offline) == 1 else 'are'} set and the dataset is not in the local datasets cache; "
            "run once online (unset it) to cache it"
            if offline else "check the name and your connection"
        )
        raise UcdbenchError(
            f"task.dataset={name!r} could not be loaded through datasets.load_dataset: {why} "
            f"({type(exc).__name__}: {exc}). The default task.dataset=pydocs needs no download."
        ) from exc
    eval_split = next((s for s in ("validation", "test") if s in data), None)
    if "train" not in data or eval_split is None:
        raise UcdbenchError(f"dataset {name!r} needs a 'train' and a 'validation' or 'test' split; it has {list(data)}")

    def documents(split: str) -> list[str]:
        columns = [c for c, feature in data[split].features.items() if getattr(feature, "dtype", None) == "string"]
        if not columns:
            raise UcdbenchError(f"dataset {name!r} has no text column in split {split!r}")
        return [" ".join(row[c] for c in columns if row[c]) for row in data[split]]

    return {"train": documents("train"), "eval": documents(eval_split)}
