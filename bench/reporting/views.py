"""Views: the tables a task's page leads with, each answering one question the papers ask.

A view is declared in an experiment file (``[[views]]``), before the runs, as HELM declares its
run groups with their metric groups: the question in words, which rows (row selectors, or every
row of the task), settings every row must have (``where``), the figures shown as columns, and the
figure the rows are ranked by, which must have a direction::

    [[views]]
    question = "At equal stored numbers, which compression keeps the most accuracy?"
    task = "mnist"
    rows = [{ method = "mcnc" }, { method = "pranc", set = { bases = 117 } }]
    where = { "task.model" = "mlp" }
    columns = ["accuracy/top1", "compression/artifact_bytes", "reconstruction/median_ms"]
    rank_by = "accuracy/top1"

Rows are grouped by what ran — method, resolved settings (defaults filled in) and hardware — so a
setting typed and the same setting left at its default are one row. Unlike a claim's selector, a
view's may match several rows: each is shown, labelled with the settings that tell it from the
others. Cells are mean ± the half-width of the 95% confidence interval over seeds, as in every
other table; headers carry the unit and ↑ / ↓.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ucdbench.contracts.interfaces import FigureKind
from ucdbench.reporting.claims import RowSelector
from ucdbench.reporting.contention import timing_conditions
from ucdbench.reporting.tables import (
    Column, Row, Table, best_first, cell, code_cell, figures_of, paper_cell, records_frame, reported_figures,
)
from ucdbench.reporting.records import hardware_label, has_settings, resolved_settings
from ucdbench.core.stats import CONFIDENCE

METHOD_FIGURES = "method"
"""The ``evaluation`` part of a method-specific figure's column (``method/purity``): what a
method reports of its own fit, not an evaluation's measurement (no declared direction or unit)."""


@dataclass(frozen=True)
class View:
    """A table answering ``question`` on ``task``: ``rows`` (none: every row) that have every
    setting of ``where``, ``columns`` (``evaluation/figure``), best first by ``rank_by``."""

    question: str
    task: str
    columns: tuple[str, ...]
    rank_by: str
    rows: tuple[RowSelector, ...] = ()
    where: Mapping[str, Any] = field(default_factory=dict)
    preset: str = "small"
    higher_is_better: bool | None = None
    """The direction of ``rank_by`` stated by the view, for a figure that declares none (an
    attack's success: higher is the attacker's win); None: the figure's declared direction."""

    def selects(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` is a successful run of one of this view's rows."""
        return (record.get("status") == "ok" and record["task"]["name"] == self.task
                and record.get("preset") == self.preset and has_settings(record, self.where)
                and (not self.rows or any(selector.matches(record) for selector in self.rows)))

    def describe(self) -> str:
        """Which rows, where, and by what they are ranked: the line under the question."""
        rows = ", ".join(str(s) for s in self.rows) if self.rows else "every row"
        where = ", ".join(f"{k}={v}" for k, v in sorted(self.where.items()))
        return (f"Rows: {rows}" + (f", where {where}" if where else "") + f"; preset `{self.preset}`. Ranked by "
                f"{self.rank_by}, in the direction of its arrow; mean ± the half-width of its {CONFIDENCE:.0%} "
                "confidence interval over seeds.")


def declared_direction(task: str, figure: str) -> bool | None:
    """The direction the installed plugins declare for ``figure`` (``evaluation/figure``) on
    ``task``: the evaluation's own figures, or, for an evaluation that declares none of its own
    (its figures are the task's metrics), the task's metrics; None where neither declares it.
    An unknown task or evaluation raises :class:`UcdbenchError` with close matches."""
    from ucdbench.discovery.registry import load_registry

    evaluation, name = figure.split("/")
    if evaluation == METHOD_FIGURES:
        return None
    registry = load_registry()
    declared = registry.load("evaluation", evaluation).figures or registry.load("task", task).metrics
    return next((metric.higher_is_better for metric in declared if metric.name == name), None)


def _declared(records: Sequence[Mapping[str, Any]], column: str) -> dict[str, Any]:
    """What the records declare of ``column``: name, direction, unit (nothing for a method's own figure)."""
    evaluation, name = column.split("/")
    return next((f for f in figures_of(list(records), evaluation) if f["name"] == name), {"name": name})


def _header(column: str, unit: str, higher_is_better: bool | None) -> str:
    arrow = {True: " ↑", False: " ↓"}.get(higher_is_better, "")
    return column + (f" ({unit})" if unit else "") + arrow


def _value_text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _labels(rows: Mapping[tuple[str, str, str], list[Mapping[str, Any]]]) -> dict[tuple[str, str, str], str]:
    """Each row's method with the settings that tell it apart: the task settings that differ
    between the view's rows, and the method settings that differ between the method's rows."""
    settings = {row: resolved_settings(runs[0]) for row, runs in rows.items()}

    def differing(among: list[tuple[str, str, str]]) -> list[str]:
        names = sorted(set().union(*(settings[row] for row in among)))
        return [n for n in names if len({json.dumps(settings[row].get(n), sort_keys=True, default=str)
                                         for row in among}) > 1]

    task_names = [n for n in differing(list(rows)) if n.startswith("task.")]
    labels = {}
    for method in {row[0] for row in rows}:
        mine = [row for row in rows if row[0] == method]
        names = [n for n in differing(mine) if not n.startswith("task.")] + task_names
        for row in mine:
            shown = ", ".join(f"{n}={_value_text(settings[row][n])}" for n in names if n in settings[row])
            labels[row] = method + (f" ({shown})" if shown else "")
    return labels


def view_table(view: View, records: Sequence[Mapping[str, Any]]) -> Table:
    """The rows of ``records`` that ``view`` selects, one per method + resolved settings +
    hardware, best first by ``view.rank_by``; each column's cell is the mean ± CI over the row's
    seeds, and a paper's figure for the row's setting stands beside the reproduced one."""
    selected = [r for r in records if view.selects(r)]
    rows: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for record in sorted(selected, key=lambda r: (r["seed"], r["key"])):
        setting = json.dumps(resolved_settings(record), sort_keys=True, default=str)
        rows.setdefault((record["method"]["name"], setting, hardware_label(record["hardware"])), []).append(record)
    frame = records_frame([dict(r) for r in selected]).set_index("key") if selected else None
    declared = {column: _declared(selected, column) for column in view.columns}
    direction = {column: declared[column].get("higher_is_better") for column in view.columns}
    if view.higher_is_better is not None:
        direction[view.rank_by] = view.higher_is_better
    labels = _labels(rows)
    built = []
    for row, runs in rows.items():
        values = frame.loc[[r["key"] for r in runs]]
        cells = {"method": (labels[row], None), "seeds": (str(len(runs)), float(len(runs)))}
        for column in view.columns:
            cells[column] = cell(values[column], len(runs)) if column in values else ("–", None)
            paper = reported_figures(runs, *column.split("/"))
            if paper:
                cells[f"{column} (paper)"] = paper_cell(paper)
        cells["hardware"] = (row[2], None)
        cells["code"] = code_cell(runs)
        built.append((best_first(cells[view.rank_by][1], direction[view.rank_by]), cells, tuple(runs)))
    built.sort(key=lambda item: (item[0], item[1]["method"][0]))  # ties by label
    header, keys = [Column("method"), Column("seeds")], ["method", "seeds"]
    for column in view.columns:
        header.append(Column(_header(column, declared[column].get("unit", ""), direction[column]), direction[column]))
        keys.append(column)
        if any(f"{column} (paper)" in cells for _, cells, _ in built):
            header.append(Column(f"{column} (paper)", direction[column]))
            keys.append(f"{column} (paper)")
    header += [Column("hardware"), Column("code (commit · fingerprint)")]
    keys += ["hardware", "code"]
    timed = [column.split("/")[0] for column in view.columns
             if FigureKind.of(declared[column]) is FigureKind.TIMING]
    note = timing_conditions([(cells["method"][0], runs) for _, cells, runs in built], dict.fromkeys(timed))
    return Table(tuple(header), tuple(Row(tuple(cells.get(k, ("–", None)) for k in keys), runs)
                                      for _, cells, runs in built), note)


def views_markdown(views: Sequence[View], records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The lines a task's page leads with: each view's question as a heading, what it shows, its table."""
    lines: list[str] = []
    for view in views:
        table = view_table(view, records)
        lines += [f"## {view.question}", "", f"*{view.describe()}*", "",
                  table.markdown() if table.rows else "No run in these records is one of this view's rows.", "",
                  *([table.note, ""] if table.rows and table.note else [])]
    return lines
