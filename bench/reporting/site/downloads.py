"""Downloads: each table of a page as CSV and JSON (``downloads/<page>/<table-id>.csv|.json``) and
each page's records as one JSON Lines file (``downloads/<page>/records.jsonl``).

A table's files hold what the page shows, with its headers (units and ↑/↓ in them): every
column as the displayed text and, where the column has numbers, the number it sorts by (the
mean over seeds) beside it, and each row's run keys. The table's id is its anchor on the page,
so a permalink and its downloads name one table.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ucdbench.reporting.site.common import Site

if TYPE_CHECKING:
    from ucdbench.reporting.tables import Column, Row, Table

NUMBER_SUFFIX = " [number]"
"""Appended to a column's header for the CSV column of its numbers."""


@dataclass(frozen=True)
class PageTable:
    """A :class:`~ucdbench.reporting.tables.Table` as a page shows it: with its id (its anchor,
    ``table.id`` in ``_table.html``) and its downloads (paths relative to the site's top)."""

    id: str
    table: Table
    csv: str
    json: str

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.table.columns

    @property
    def rows(self) -> tuple[Row, ...]:
        return self.table.rows

    @property
    def note(self) -> str:
        return self.table.note

    def anchors(self) -> list[str]:
        return self.table.anchors()


def _numeric(table: Table) -> list[bool]:
    """Which columns have a number in some row."""
    return [any(row.cells[i][1] is not None for row in table.rows) for i in range(len(table.columns))]


def table_csv(table: Table) -> str:
    """The table as CSV: a column per header (the text shown), a ``[number]`` column after each
    that has numbers, and the row's run keys."""
    numeric = _numeric(table)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = []
    for column, has_numbers in zip(table.columns, numeric):
        header += [column.header] + ([column.header + NUMBER_SUFFIX] if has_numbers else [])
    writer.writerow([*header, "runs"])
    for row in table.rows:
        cells = []
        for (text, value), has_numbers in zip(row.cells, numeric):
            cells += [text] + (["" if value is None else repr(float(value))] if has_numbers else [])
        writer.writerow([*cells, " ".join(run["key"] for run in row.runs)])
    return buffer.getvalue()


def table_json(table: Table, page: str, table_id: str) -> dict[str, Any]:
    """The table as JSON: its columns (header, which way is better) and rows (per header the
    text and the number, and the run keys)."""
    return {"page": page, "table": table_id, "note": table.note,
            "columns": [{"header": c.header, "higher_is_better": c.higher_is_better} for c in table.columns],
            "rows": [{"cells": {c.header: {"text": text, "value": value}
                                for c, (text, value) in zip(table.columns, row.cells)},
                      "runs": [run["key"] for run in row.runs]} for row in table.rows]}


def page_table(site: Site, page: str, table_id: str, table: Table) -> PageTable:
    """Write the table's CSV and JSON under ``downloads/<page>/`` and return it with its id."""
    folder = site.out / "downloads" / page
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{table_id}.csv").write_text(table_csv(table))
    (folder / f"{table_id}.json").write_text(json.dumps(table_json(table, page, table_id), indent=1) + "\n")
    return PageTable(table_id, table, f"downloads/{page}/{table_id}.csv", f"downloads/{page}/{table_id}.json")


def records_jsonl(site: Site, page: str, records: Iterable[dict[str, Any]]) -> str:
    """Write a page's records, one JSON object a line, in key order; the file's path."""
    path = site.out / "downloads" / page / "records.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in sorted(records, key=lambda r: r["key"])))
    return f"downloads/{page}/records.jsonl"
