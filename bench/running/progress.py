"""Progress bars on a terminal, silence otherwise (CI logs and pipes stay clean)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


def progress_bar(iterable: Iterable[Any], desc: str = "", total: int | None = None) -> Iterable[Any]:
    """tqdm when stderr is a terminal, the bare iterable otherwise."""
    if not sys.stderr.isatty():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)
