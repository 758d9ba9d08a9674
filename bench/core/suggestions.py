"""Close matches for a name the user (or a plugin author) mistyped."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str], n: int = 3) -> str:
    """``" Did you mean 'a', 'b'?"`` for up to ``n`` close matches of ``name``; ``""`` when none."""
    close = difflib.get_close_matches(name, list(known), n=n, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
