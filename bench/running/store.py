"""Result records: one schema-versioned JSON file per run, written atomically.

Files, not a database, so that workers on many machines can write into one shared folder and
results merge by copying. Layout under the results folder::

    runs/<key>.json              the record
    artifacts/<key>.safetensors  the method's artifact (what the compression figures measure)
    attachments/<key>/<evaluation>/<file>  images evaluations attached (see ``EvaluationContext.attach``)

A record is written when a run starts (``status: running``) and replaced when it ends (``ok``
or ``failed``), and again when an evaluation is measured on it later, each time through a temp
file and a rename: a killed process leaves the ``running`` record of a run that never finished,
or the record as it was before a measurement, never a half-written file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ucdbench.running.cache import atomic_write_bytes
from ucdbench.contracts.interfaces import UcdbenchError

SCHEMA_VERSION = 3
"""3: a run is fitted once and each evaluation is a measurement of it under its own key
(``measurements``: key, status, on what it was measured, error and traceback when it failed;
see :mod:`ucdbench.running.measuring`); the run's key no longer holds the evaluations.
2: each evaluation's declared figures (``figures``: name, direction, unit) replace the bare
``leaderboard_columns`` of schema 1."""


@dataclass(frozen=True)
class SkippedFile:
    """A file in ``runs/`` that is not a readable record of this schema, and why."""

    path: Path
    reason: str


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise UcdbenchError(f"{path} is unreadable ({exc.strerror or exc}); check its permissions") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UcdbenchError(f"{path} is not valid JSON ({exc}): a torn copy or an edited file; copy it again "
                            "from where the run was recorded, or delete it") from exc


def read_record(path: Path) -> dict[str, Any]:
    """The record in ``path``; a :class:`UcdbenchError` saying why when it is not one of
    this schema."""
    record = _read_json(path)
    if not isinstance(record, dict) or "schema" not in record:
        raise UcdbenchError(f"{path} is not a ucdbench run record (no 'schema' field); move it out of the "
                            "results folder")
    if record["schema"] != SCHEMA_VERSION:
        newer = isinstance(record["schema"], int) and record["schema"] > SCHEMA_VERSION
        raise UcdbenchError(f"{path} has record schema {record['schema']!r}, this ucdbench reads schema "
                            f"{SCHEMA_VERSION}; " + ("upgrade ucdbench to read it" if newer else
                                                     "run it again to record it in this schema"))
    return record


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

    def attachment_path(self, key: str, evaluation: str, filename: str) -> Path:
        return self.root / "attachments" / key / evaluation / filename

    def write(self, record: dict[str, Any]) -> Path:
        path = self.record_path(record["key"])
        atomic_write_bytes(path, (json.dumps(record, indent=2, sort_keys=True, default=str) + "\n").encode())
        return path

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.record_path(key)
        return json.loads(path.read_text()) if path.exists() else None

    def scan(self) -> tuple[list[dict[str, Any]], list[SkippedFile]]:
        """Every record of the current schema, oldest first, and every other ``runs/*.json``
        file with why it was skipped (torn or edited JSON, another schema, not a record)."""
        records: list[dict[str, Any]] = []
        skipped: list[SkippedFile] = []
        if not self.runs_dir.is_dir():
            return records, skipped
        for path in sorted(self.runs_dir.glob("*.json"), key=lambda p: p.stat().st_mtime):
            try:
                records.append(read_record(path))
            except UcdbenchError as exc:
                skipped.append(SkippedFile(path, str(exc)))
        return records, skipped

    def find(self, run: str) -> dict[str, Any]:
        """A record by path, full key or unique key prefix."""
        path = Path(run)
        if path.suffix == ".json" and path.exists():
            return _read_json(path)
        is_key = Path(run).name == run  # a path that is no record (a folder, say) names no key: glob refuses it
        matches = sorted(self.runs_dir.glob(f"{run}*.json")) if is_key and self.runs_dir.is_dir() else []
        if len(matches) == 1:
            return _read_json(matches[0])
        if not matches:
            raise UcdbenchError(f"no run {run!r} in {self.runs_dir} (give a key, a key prefix or a record path; "
                                "`ls` that folder, or pass --results)")
        raise UcdbenchError(f"{run!r} matches {len(matches)} runs: "
                            + ", ".join(m.stem for m in matches[:5]) + "; give more of the key")
