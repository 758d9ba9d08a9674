"""Result records: one schema-versioned JSON file per run, written atomically.

Files, not a database, so that workers on many machines can write into one shared folder and
results merge by copying. Layout under the results folder::

    runs/<key>.json              the record
    artifacts/<key>.safetensors  the method's artifact (what the compression figures measure)

A record is written when a run starts (``status: running``) and replaced when it ends (``ok``
or ``failed``), each time through a temp file and a rename: a killed process leaves the
``running`` record of a run that never finished, never a half-written file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ucdbench.cache import atomic_write_bytes
from ucdbench.interfaces import UcdbenchError

SCHEMA_VERSION = 1


def default_results_dir() -> Path:
    return Path(os.environ.get("UCDBENCH_RESULTS", "results"))


class RunStore:
    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_results_dir()

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def record_path(self, key: str) -> Path:
        return self.runs_dir / f"{key}.json"

    def artifact_path(self, key: str) -> Path:
        return self.root / "artifacts" / f"{key}.safetensors"

    def write(self, record: dict[str, Any]) -> Path:
        path = self.record_path(record["key"])
        atomic_write_bytes(path, (json.dumps(record, indent=2, sort_keys=True, default=str) + "\n").encode())
        return path

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.record_path(key)
        return json.loads(path.read_text()) if path.exists() else None

    def records(self) -> Iterator[dict[str, Any]]:
        """Every readable record of the current schema, oldest first."""
        if not self.runs_dir.is_dir():
            return
        for path in sorted(self.runs_dir.glob("*.json"), key=lambda p: p.stat().st_mtime):
            try:
                record = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if record.get("schema") == SCHEMA_VERSION:
                yield record

    def find(self, run: str) -> dict[str, Any]:
        """A record by path, full key or unique key prefix."""
        path = Path(run)
        if path.suffix == ".json" and path.exists():
            return json.loads(path.read_text())
        matches = sorted(self.runs_dir.glob(f"{run}*.json")) if self.runs_dir.is_dir() else []
        if len(matches) == 1:
            return json.loads(matches[0].read_text())
        if not matches:
            raise UcdbenchError(f"no run {run!r} in {self.runs_dir} (give a key, a key prefix or a record path; "
                                "`ls` that folder, or pass --results)")
        raise UcdbenchError(f"{run!r} matches {len(matches)} runs: "
                            + ", ".join(m.stem for m in matches[:5]) + "; give more of the key")
