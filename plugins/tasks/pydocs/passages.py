"""Verbatim passages shared between texts: measured, and removed from the pydoc topics.

A language model scored on text it has read verbatim is scored on memory, not on language.
CPython's pydoc topics repeat themselves: ``compound`` holds the whole of ``if``, ``while``,
``for``, ``try``, ``with``, ``function``, ``class`` and ``async``, ``specialnames`` the whole
of ``customization``, ``attribute-access`` and more, so a split by topic alone put 46% of the
eval bytes (CPython 3.11) in passages of 200 bytes or more that the base was pretrained on.

Both jobs here look at every window of :data:`PASSAGE` UTF-8 bytes, kept as an 8-byte BLAKE2b
digest (unsalted, so the same on every run; about 1 s and 40 MB for all topics): two texts share
a passage of at least :data:`PASSAGE` bytes exactly when they share such a window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

PASSAGE = 200
"""No passage of this many bytes may be shared between two splits."""
PARAGRAPH = "\n\n"
"""What separates the paragraphs of a pydoc topic: the unit :func:`deduplicate` keeps or drops."""


def _digest(window: bytes) -> bytes:
    return hashlib.blake2b(window, digest_size=8).digest()


def windows(data: bytes, start: int = 0) -> list[bytes]:
    """Digests of the :data:`PASSAGE`-byte windows of ``data`` that begin at ``start`` or later."""
    return [_digest(data[i:i + PASSAGE]) for i in range(start, len(data) - PASSAGE + 1)]


def passage_index(texts: Iterable[str]) -> set[bytes]:
    """Digests of every window of each text (windows never span two texts)."""
    return {digest for text in texts for digest in windows(text.encode())}


def verbatim_overlap(texts: Iterable[str], reference: Iterable[str]) -> float:
    """The share of the UTF-8 bytes of ``texts`` that lie in a passage of :data:`PASSAGE` bytes
    or more found verbatim in ``reference``: each byte covered by a window of ``texts`` whose
    digest is a window of ``reference`` counts once. 0 for no text."""
    index = passage_index(reference)
    covered = total = 0
    for text in texts:
        data = text.encode()
        total += len(data)
        end = 0  # bytes before it are already counted
        for i, digest in enumerate(windows(data)):
            if digest in index:
                covered += i + PASSAGE - max(i, end)
                end = i + PASSAGE
    return covered / total if total else 0.0


def deduplicate(topics: Mapping[str, str]) -> dict[str, str]:
    """The topics with every paragraph dropped that would repeat a passage of another topic.

    Topics are taken shortest first (then by name), so a topic that gathers others (``compound``)
    loses the copies and keeps its own text, while the short topics stay whole. A topic's
    paragraphs are appended one by one, and one is dropped when any window it adds (those that
    end in it, across the paragraph break included) is a window of a topic taken earlier. So no
    two returned topics share a passage of :data:`PASSAGE` bytes, whichever splits they go to
    (a topic may still repeat itself). Topics left empty are left out; the rest keep their order.
    """
    seen: set[bytes] = set()
    kept: dict[str, str] = {}
    for name in sorted(topics, key=lambda name: (len(topics[name].encode()), name)):
        text = b""
        for paragraph in topics[name].split(PARAGRAPH):
            candidate = (text + PARAGRAPH.encode() if text else b"") + paragraph.encode()
            added = windows(candidate, start=max(0, len(text) - PASSAGE + 1))
            if not seen.intersection(added):
                text = candidate
        seen.update(windows(text))
        if text:
            kept[name] = text.decode()
    return {name: kept[name] for name in topics if name in kept}
