"""Records that travel with the pages they produced, so that anyone can rebuild the pages and
recompute every claim from the repository alone.

``ucdbench leaderboard --keep-records`` copies the records behind the pages into
``OUT/records`` (a results folder: ``runs/`` and the images runs attached) and writes, in the
index, the one command that rebuilds every page from them. The copies are portable: only the
local path of each run's artifact file is left out. The raw per-call samples of timing figures
(``samples_ms`` and ``work_samples_ms``) stay, because a page's timing tables say from them how
much of its cores each timed run had (:mod:`ucdbench.reporting.contention`), and ``ucdbench
compare`` reads them. Rebuilding with that command gives the same pages but for their generation time.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ucdbench.reporting.compare import RAW_SAMPLES, WORK_SAMPLES
from ucdbench.running.cache import atomic_write_bytes

RECORDS = "records"
"""The folder beside the pages that holds their records."""


def portable(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` without the local path of its artifact file (a path on the machine that ran it)."""
    return {key: value for key, value in record.items() if key != "artifact"}


def keep_records(records: Sequence[dict[str, Any]], results: Path, out: Path) -> Path:
    """Write :func:`portable` copies of ``records`` and their attached images (from the results
    folder ``results``) into ``out/records``, replacing what an earlier build kept there; returns
    that folder. Rebuilding from it (``results`` is then that folder) keeps it as it is."""
    folder = out / RECORDS
    runs = folder / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    keys = {record["key"] for record in records}
    for stale in runs.glob("*.json"):
        if stale.stem not in keys:
            stale.unlink()
    same = results.resolve() == folder.resolve()
    for record in records:
        atomic_write_bytes(runs / f"{record['key']}.json",
                           (json.dumps(portable(record), indent=1, sort_keys=True) + "\n").encode())
        for attachment in record.get("attachments", []) if not same else ():
            source = results / attachment["file"]
            if source.is_file():
                (folder / attachment["file"]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, folder / attachment["file"])
    return folder


def rebuild_command(out: Path, experiments: Sequence[Path]) -> str:
    """The command that rebuilds the pages in ``out`` from the records kept beside them."""
    files = "".join(f" -f {path}" for path in experiments)
    return f"ucdbench leaderboard --results {out / RECORDS} --out {out}{files} --keep-records"


def audit_lines(count: int, out: Path, experiments: Sequence[Path]) -> list[str]:
    """The index's section that says where the records are and how to rebuild the pages."""
    return ["", "## Rebuilding these pages", "",
            f"The {count} run records behind these pages are in [{RECORDS}/]({RECORDS}/), whole but for the local "
            "path of each run's artifact file (artifacts are not kept: `ucdbench run` on a row's settings fits it "
            f"again). They keep each timing's per-call samples (`{RAW_SAMPLES}`, `{WORK_SAMPLES}`), from which the "
            "timing tables' CPU share is computed and which `ucdbench compare` reads; every figure on these pages is "
            "in them. This command, from the repository's root, rebuilds every page and "
            "judges every claim again from them (the same pages but for the generation time):", "",
            f"    {rebuild_command(out, experiments)}"]
