"""The history of published results: a JSON Lines file, one entry per published results folder
(``ucdbench publish --history FILE --append-history``; the nightly job appends one each night),
and what task pages show of it: each row's headline figure and its latency across the entries,
as a table and a graph per row, with the regression gate's verdicts marked.

An entry holds when it was published (``date``, an ISO 8601 time), the project commits of its
records, how many runs succeeded or failed, and per row (task, preset, task settings, method,
settings, hardware) its primary metric as mean, CI half-width and seed count; since issue 25
also ``timing`` (its latency: the row's first headline timing figure, the same statistics) and ``gate``
(the findings of the ``ucdbench compare`` report given with ``--compare`` that regressed or were
accepted on the row's runs), and the report's verdict. Entries are labelled by commit and time,
never by day alone; lines written before these fields existed read as entries without them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ucdbench.contracts.interfaces import FigureKind, UcdbenchError
from ucdbench.reporting.tables import slug

if TYPE_CHECKING:
    import pandas as pd

    from ucdbench.reporting.charts import MethodColours

HISTORY_SHOWN = 30
"""Entries of the history a task page shows, the latest."""
ROW_KEYS = ("task", "preset", "task_settings", "method", "settings", "hardware")
"""What identifies a row across entries."""
MARKED = ("regression", "accepted")
"""The gate's changes a history marks on a row: what failed the gate, and what a reviewer accepted."""


def _statistics(values: list[float]) -> dict[str, Any]:
    from ucdbench.core.stats import mean_ci

    ci = mean_ci(values)
    return {"mean": ci.mean, "half_width": ci.half_width, "n": ci.n}


def _latency_column(runs: pd.DataFrame, records: Mapping[str, dict[str, Any]]) -> tuple[str, str] | None:
    """The row's latency: the first headline timing figure its records declare that its runs
    report (``evaluation/figure``), and its unit; None where it has none."""
    for key in runs.key:
        for evaluation, figures in (records[key].get("figures") or {}).items():
            for figure in figures:
                column = f"{evaluation}/{figure['name']}"
                if (figure.get("headline") and FigureKind.of(figure) is FigureKind.TIMING and column in runs
                        and runs[column].notna().any()):
                    return column, figure.get("unit") or ""
    return None


def _gate_marks(keys: set[str], report: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The report's regressions and accepted changes about any of ``keys`` (a row's runs)."""
    findings = (report or {}).get("findings", [])
    return [{"change": f["change"], "figure": f["figure"], "test": f["test"]}
            for f in findings if f["change"] in MARKED and keys & set(f.get("keys", []))]


def _history_rows(records: list[dict[str, Any]], report: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    from ucdbench.reporting.tables import column_of, records_frame

    frame = records_frame(records)
    by_key = {r["key"]: r for r in records}
    rows = []
    for identity, runs in frame[frame.status == "ok"].groupby(list(ROW_KEYS), sort=True):
        primary = runs.primary.dropna().iloc[0] if runs.primary.notna().any() else None
        column = column_of(runs, primary) if primary else None
        values = runs[column].dropna().tolist() if column else []
        if not values:
            continue
        row = {**dict(zip(ROW_KEYS, identity)), "figure": primary, **_statistics(values)}
        latency = _latency_column(runs, by_key)
        if latency is not None:
            row["timing"] = {"figure": latency[0], "unit": latency[1], **_statistics(runs[latency[0]].dropna().tolist())}
        marks = _gate_marks(set(runs.key), report)
        if marks:
            row["gate"] = marks
        rows.append(row)
    return rows


def history_entry(records: list[dict[str, Any]], when: datetime | None = None,
                  report: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One line of the history file: every row's primary metric and latency (mean ± CI over
    seeds), the commit(s), how many runs succeeded or failed and, given the compare ``report``
    (:func:`ucdbench.reporting.compare.report_data`) of these records against the previous
    ones, its verdict and each row's regressions and accepted changes; ``id`` identifies the
    records it summarises."""
    from ucdbench.reporting.compare import commits_of

    ok = sum(r.get("status") == "ok" for r in records)
    identity = hashlib.sha256(json.dumps(sorted((r["key"], r["status"]) for r in records)).encode()).hexdigest()[:16]
    entry = {"date": (when or datetime.now(timezone.utc)).isoformat(timespec="seconds"), "id": identity,
             "commits": commits_of(records), "ok": ok, "failed": len(records) - ok,
             "rows": _history_rows(records, report)}
    if report is not None:
        entry["gate"] = {"verdict": report["verdict"], "fails_gate": report["fails_gate"],
                         **{change: sum(f["change"] == change for f in report["findings"]) for change in MARKED}}
    return entry


def read_history(path: Path) -> list[dict[str, Any]]:
    """The entries of a history file, oldest first; a missing file is an empty history."""
    if not path.exists():
        return []
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UcdbenchError(f"{path}:{number}: not a JSON line ({exc.msg}); each line of a history file is "
                                "one entry written by `ucdbench publish --append-history`") from exc
        if not isinstance(entry, dict) or not {"date", "rows"} <= set(entry):
            raise UcdbenchError(f"{path}:{number}: a history entry needs 'date' and 'rows'; this line is not one")
        entries.append(entry)
    return entries


def append_history(path: Path, records: list[dict[str, Any]], report: Mapping[str, Any] | None = None) -> bool:
    """Append the summary of ``records`` (and of the gate's ``report`` on them) to the history
    file, unless its last entry summarises the same records (publishing a folder twice adds one
    entry); True when appended."""
    entry = history_entry(records, report=report)
    entries = read_history(path)
    if entries and entries[-1].get("id") == entry["id"]:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        file.write(json.dumps(entry, sort_keys=True) + "\n")
    return True


def entry_labels(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """The entries as the site names them: each its commit (or how many) and its time to the
    minute, never its day alone (two nights on one day differ): ``ef5f7b92 2026-12-06 03:17``;
    to the second where two entries would otherwise read the same."""
    def label(entry: Mapping[str, Any], digits: int) -> str:
        commits = entry.get("commits") or ["unknown"]
        commit = commits[0][:8] if len(commits) == 1 else f"{len(commits)} commits"
        return f"{commit} {entry['date'][:digits].replace('T', ' ')}"

    short = [label(entry, 16) for entry in entries]
    return [text if short.count(text) == 1 else label(entry, 19) for text, entry in zip(short, entries)]


# ------------------------------------------------------------------------------------- the pages


@dataclass(frozen=True)
class HistoryRow:
    """One row across the shown entries: per entry its headline text, its latency text and the
    gate's mark (``regression``, ``accepted`` or ``""``), and its graph."""

    label: str
    method: str
    cells: list[str]
    latency: list[str]
    marks: list[str]
    notes: list[str]
    graph: str | None


@dataclass(frozen=True)
class HistoryTable:
    """One section's rows across history entries (``entries``: their labels, oldest first)."""

    figure: str
    latency: str | None
    entries: list[str]
    rows: list[HistoryRow]


def _cell(values: Mapping[str, Any] | None) -> str:
    from ucdbench.core.formatting import format_number

    if values is None:
        return "–"
    text = format_number(values["mean"])
    return text + (f" ± {format_number(values['half_width'], 2)}" if values.get("half_width") is not None else "")


def _mark(row: Mapping[str, Any] | None) -> str:
    changes = {mark["change"] for mark in (row or {}).get("gate", [])}
    return next((change for change in MARKED if change in changes), "")


def history_tables(task: str, history: Sequence[dict[str, Any]], out: Path,
                   colours: MethodColours) -> dict[tuple[str, str], HistoryTable]:
    """Per section of ``task`` (preset, task settings) that the history has: its rows' headline
    figure and latency over the latest entries, and a graph per row that two entries or more hold
    (drawn under ``out/plots/<task>/history/``)."""
    shown = list(history)[-HISTORY_SHOWN:]
    labels = entry_labels(shown)
    sections: dict[tuple[str, str], dict[str, dict[int, dict[str, Any]]]] = {}
    for i, entry in enumerate(shown):
        for row in entry["rows"]:
            if row["task"] == task:
                label = row["method"] + (f" ({row['settings']})" if row["settings"] else "") + f" [{row['hardware']}]"
                sections.setdefault((row["preset"], row["task_settings"]), {}).setdefault(label, {})[i] = row
    tables = {}
    for (preset, task_settings), rows in sections.items():
        section = f"{preset}-{task_settings or 'default'}"
        table_rows = [_history_row(label, values, len(shown), labels, out,
                                   f"plots/{task}/history/{slug(section + '-' + label)}.png", colours)
                      for label, values in sorted(rows.items())]
        first = next(row for values in rows.values() for row in values.values())
        latency = next((row["timing"]["figure"] for values in rows.values() for row in values.values()
                        if row.get("timing")), None)
        tables[preset, task_settings] = HistoryTable(first["figure"], latency, labels, table_rows)
    return tables


def _history_row(label: str, values: dict[int, dict[str, Any]], shown: int, labels: list[str], out: Path,
                 graph: str, colours: MethodColours) -> HistoryRow:
    """A row's cells over ``shown`` entries, and its graph where two entries or more hold it."""
    method = next(iter(values.values()))["method"]
    notes = ["; ".join(f"{m['change']}: {m['figure']} ({m['test']})" for m in values[i].get("gate", []))
             if i in values else "" for i in range(shown)]
    drawn = len(values) > 1
    if drawn:
        from ucdbench.reporting.site.history_graph import draw_row_history

        draw_row_history(values, labels, label, colours.colour(method), out / graph)
    return HistoryRow(label, method, [_cell(values.get(i)) for i in range(shown)],
                      [_cell(values[i].get("timing")) if i in values and values[i].get("timing") else "–"
                       for i in range(shown)],
                      [_mark(values.get(i)) for i in range(shown)], notes, graph if drawn else None)
