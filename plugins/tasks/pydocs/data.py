"""The text of the ``pydocs`` task: CPython's pydoc topics, split by topic, as byte tokens.

``pydoc_data.topics.topics`` ships with every CPython (about 80 topics, ~465 KB of English
prose on the language), so the task needs no download. Splitting by *topic* rather than by
position keeps the pretraining, training and eval text about different subjects; but the topics
repeat one another (``compound`` holds ``if``, ``for``, ``try``, ``with``, ``function``,
``class`` and ``async`` whole), so a split by topic alone left 46% of the eval bytes in
passages of 200 bytes or more that the base was pretrained on. The topics are therefore
deduplicated first (:func:`unique_topics`, :func:`~ucdbench_plugins.tasks.pydocs.passages.deduplicate`:
a paragraph that would repeat a 200-byte passage of another topic is dropped, ~27% of the bytes),
and what holds is: **no two topics, so no two splits — pretraining, training, validation, eval —
share a verbatim passage of 200 bytes or more.** ``tests/test_task_pydocs.py`` measures it
(:func:`~ucdbench_plugins.tasks.pydocs.passages.verbatim_overlap`: the share of the eval bytes
inside such a passage of the other splits, 0.0 now, 0.46 before) and checks that the measure
finds a planted leak.

The validation split (:func:`hold_out`) is a share of the training documents, for choosing a
method's settings (``task.score_on=validation``) without looking at the eval text.

Tokens are UTF-8 bytes (ids 0–255) plus one end-of-text id (256) after each document. A
byte vocabulary needs no training, no cache and no hub, cannot be fitted to (and so leak) the
eval text, and makes bits per byte an exact, tokenizer-free figure; the cost, shorter context
in words per block, does not matter for comparing methods on one task.

With a hub base model (``task.base``) the text goes through that model's own tokenizer
instead (:func:`encode_with`), its EOS token after each document, and every token carries
the number of UTF-8 bytes it stands for, so bits per byte stays a figure of the real text.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from ucdbench.api import UcdbenchError
from ucdbench_plugins.tasks.pydocs.passages import deduplicate

END_OF_TEXT = 256
VOCAB_SIZE = 257
SPLITS = ("pretrain", "train", "eval")


def pydoc_topics() -> dict[str, str]:
    """Topic name → text, from the running CPython's ``pydoc_data``."""
    from pydoc_data.topics import topics

    return dict(topics)


@functools.cache
def _unique_topics() -> dict[str, str]:
    return deduplicate(pydoc_topics())


def unique_topics() -> dict[str, str]:
    """:func:`pydoc_topics` with no passage of 200 bytes in two topics (deduplicated once per process)."""
    return dict(_unique_topics())


def hold_out(documents: list[str], fraction: float) -> tuple[list[str], list[str]]:
    """``(kept, held_out)``: whole documents, walked in the order of the SHA-256 of their text
    (stable, unrelated to subject), go to ``held_out`` while they fit in ``fraction`` of the
    bytes (a document too large for the room left is skipped); both keep the documents' order."""
    room = fraction * sum(len(d.encode()) for d in documents)
    chosen = set()
    for i in sorted(range(len(documents)), key=lambda i: hashlib.sha256(documents[i].encode()).hexdigest()):
        size = len(documents[i].encode())
        if size <= room and len(chosen) < len(documents) - 1:
            chosen.add(i)
            room -= size
    if not chosen:
        raise UcdbenchError(f"no training document fits in task.validation_fraction={fraction} of the training text "
                            f"({len(documents)} documents); raise it, or give the task more training text")
    kept = [d for i, d in enumerate(documents) if i not in chosen]
    return kept, [d for i, d in enumerate(documents) if i in chosen]


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


# --------------------------------------------------------------------------------------------
# Text through a hub base model's own tokenizer (task.base=<hub id or folder>)
# --------------------------------------------------------------------------------------------


def offline_variables() -> list[str]:
    """The Hugging Face offline switches that are set in the environment."""
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    return [v for v in names if os.environ.get(v, "") not in ("", "0")]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level BPE alphabet: each byte as one printable character."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[byte] = chr(byte)
        else:
            chars[byte] = chr(256 + extra)
            extra += 1
    return chars


def byte_level_lengths(tokenizer: Any) -> list[int] | None:
    """How many UTF-8 bytes each token id stands for, when ``tokenizer`` is a byte-level BPE
    (GPT-2's family: every vocabulary entry spells bytes, one character per byte); None for
    other tokenizers. Special tokens (end of text, ...) stand for no bytes, other added tokens
    for their text's bytes."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or '"ByteLevel"' not in json.dumps(json.loads(backend.to_str()).get("decoder")):
        return None
    alphabet = set(_bytes_to_unicode().values())
    added = getattr(tokenizer, "added_tokens_decoder", {})
    lengths = []
    for i, token in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        if i in added:
            lengths.append(0 if added[i].special else len(added[i].content.encode()))
        elif token is None:
            lengths.append(0)
        elif all(c in alphabet for c in token):
            lengths.append(len(token))
        else:
            return None
    return lengths


def _offset_lengths(text: str, offsets: list[tuple[int, int]]) -> list[int]:
    """Bytes per token from character offsets: each token counts the text from where the last
    one stopped to its own end (gaps such as trimmed spaces go to the next token, a character
    split over several tokens counts with the first); the counts sum to ``len(text.encode())``."""
    counts, covered = [], 0
    for _, end in offsets:
        counts.append(len(text[covered:max(covered, end)].encode()))
        covered = max(covered, end)
    if counts:
        counts[-1] += len(text[covered:].encode())
    return counts


def encode_with(tokenizer: Any, documents: Iterable[str], use_offsets: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, n_bytes)``: one LongTensor stream of each document's tokens followed by the
    tokenizer's end-of-text (EOS) id, and beside it the UTF-8 bytes of text each token stands
    for (0 for EOS), so that any slice of the stream knows its real byte count.

    Exact per token for byte-level BPE (:func:`byte_level_lengths`); for other (fast)
    tokenizers, or with ``use_offsets``, from the character offsets (:func:`_offset_lengths`),
    exact per document.
    """
    documents = list(documents)
    eos = tokenizer.eos_token_id
    table = None if use_offsets else byte_level_lengths(tokenizer)
    if table is None and not getattr(tokenizer, "is_fast", False):
        raise UcdbenchError(f"the tokenizer {type(tokenizer).__name__} is neither byte-level nor a fast (Rust) "
                            "tokenizer, so bytes per token cannot be counted for bits_per_byte")
    # split_special_tokens: a literal "<|endoftext|>" in a document is text, not a separator
    encoded = tokenizer(documents, add_special_tokens=False, split_special_tokens=True,
                        return_offsets_mapping=table is None, verbose=False)
    ids: list[int] = []
    n_bytes: list[int] = []
    for i, (text, tokens) in enumerate(zip(documents, encoded["input_ids"])):
        ids.extend(tokens)
        ids.append(eos)
        if table is None:
            n_bytes.extend(_offset_lengths(text, encoded["offset_mapping"][i]))
        else:
            n_bytes.extend(table[t] for t in tokens)
        n_bytes.append(0)
    return torch.tensor(ids, dtype=torch.long), torch.tensor(n_bytes, dtype=torch.long)
