"""Leaderboard rows and tables from run records, shared by pages, views, charts and the site.

A run is one row of a frame (:func:`records_frame`); runs that ran with the same settings,
defaults filled in, on the same hardware are one table row, its cells the mean over seeds ± the
half-width of its 95% confidence interval (:func:`cell`). A :class:`Table` is what a page or the
site renders.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ucdbench.core.formatting import format_number
from ucdbench.core.stats import mean_ci
from ucdbench.reporting.records import hardware_label, method_settings, task_settings


def slug(text: str) -> str:
    """``text`` as a file name or URL fragment: runs of other characters than letters, digits and
    ``_.=-`` become one ``-``."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", text).strip("-")


def value_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list, tuple)) else str(value)


def identity(settings: dict[str, Any]) -> str:
    return json.dumps(settings, sort_keys=True, default=str)


def differing(configs: Sequence[dict[str, Any]]) -> list[str]:
    """The keys whose values are not the same in every one of ``configs`` (a key some lack included)."""
    keys = sorted(set().union(*configs)) if configs else []
    return [k for k in keys if len({identity(c.get(k)) for c in configs}) > 1]


def settings_label(config: dict[str, Any], keys: Sequence[str], prefix: str = "") -> str:
    return ", ".join(f"{prefix}{k}={value_text(config[k])}" for k in keys if k in config)


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run; figures as ``evaluation/figure`` columns.

    Runs are grouped by what they ran with, defaults filled in, never by what was typed
    (``label_noise=0.0`` and no ``label_noise`` are one setting): ``task_settings`` names a
    section by the resolved task settings that differ between the task's sections (its preset
    apart), ``settings`` a row by the resolved settings that differ between its method's rows in
    that section; ``task_config`` spells out the section's every task setting."""
    rows = []
    for r in records:
        hardware = r.get("hardware", {})
        row = {
            "key": r["key"], "status": r["status"], "error": r.get("error"),
            "task": r["task"]["name"], "preset": r.get("preset"), "seed": r.get("seed"),
            "method": r["method"]["name"], "hardware": hardware_label(hardware),
            "primary": r["task"].get("primary_metric"),
            "commit": ((r.get("environment") or {}).get("git_commit") or "unknown")[:10], "code": r.get("code", "?"),
            "_task_identity": identity(task_settings(r)),
            "_identity": identity(method_settings(r)),
        }
        for evaluation, figures in r.get("evaluations", {}).items():
            for name, value in figures.items():
                if isinstance(value, bool):
                    row[f"{evaluation}/{name}"] = "yes" if value else "no"
                    continue
                if isinstance(value, (int, float)):
                    row[f"{evaluation}/{name}"] = float(value)
        for name, value in r.get("method_metrics", {}).items():
            if isinstance(value, (int, float)):
                row[f"method/{name}"] = float(value)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame.assign(settings=[], task_settings=[], task_config=[])
    by_key = {r["key"]: r for r in records}
    frame["task_settings"], frame["task_config"], frame["settings"] = "", "", ""
    for _, task_runs in frame.groupby("task", sort=False):
        sections = {key: task_settings(by_key[runs.key.iloc[0]])
                    for key, runs in task_runs.groupby("_task_identity", sort=False)}
        apart = differing(list(sections.values()))
        for key, config in sections.items():
            here = task_runs.index[task_runs._task_identity == key]
            frame.loc[here, "task_settings"] = settings_label(config, apart)
            frame.loc[here, "task_config"] = settings_label(config, sorted(config)) or "default"
    for _, method_runs in frame.groupby(["task", "preset", "_task_identity", "method"], sort=False, dropna=False):
        configs = {key: method_settings(by_key[runs.key.iloc[0]])
                   for key, runs in method_runs.groupby("_identity", sort=False)}
        apart = differing(list(configs.values()))
        for key, config in configs.items():
            frame.loc[method_runs.index[method_runs._identity == key], "settings"] = settings_label(config, apart)
    return frame


NAMING_COLUMNS = ("method", "task", "figure", "setting", "hardware")
"""The columns whose cells name a row (rather than measure it): its permalink is made of them."""


@dataclass(frozen=True)
class Column:
    """A table column: its header, and which way is better (None: no direction, or not a figure)."""

    header: str
    higher_is_better: bool | None = None


@dataclass(frozen=True)
class Row:
    """A table row: each column's text and the number it sorts by (None: sort by the text), and the
    records of the runs behind it, lowest seed first."""

    cells: tuple[tuple[str, float | None], ...]
    runs: tuple[dict[str, Any], ...] = ()

    @property
    def facets(self) -> dict[str, str]:
        """What a reader filters the row by on the site, from its runs' records: ``hardware``,
        ``preset``, the method's ``family`` and each task setting as ``task.NAME``; a value the
        runs do not share is their values joined by `` / ``. Empty for a row without runs."""
        values: dict[str, dict[str, None]] = {}
        for run in self.runs:
            found = {"hardware": hardware_label(run.get("hardware") or {}), "preset": str(run.get("preset")),
                     "family": str(run["method"].get("family") or "–")}
            found |= {f"task.{name}": value_text(value) for name, value in (run["task"].get("config") or {}).items()}
            for name, value in found.items():
                values.setdefault(name, {})[value] = None
        return {name: " / ".join(found) for name, found in values.items()}


@dataclass(frozen=True)
class Table:
    """What a leaderboard table shows, best row first; markdown pages and the HTML site render it."""

    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    note: str = ""
    """What a reader must know to read the table (how its ranks were given), shown below it."""

    def anchors(self) -> list[str]:
        """Each row's name in its permalink, the same from build to build: the slug of the cells
        that name the row (:data:`NAMING_COLUMNS`; every cell where none is), numbered from
        ``-2`` where rows share one."""
        naming = [i for i, column in enumerate(self.columns) if column.header in NAMING_COLUMNS]
        seen: dict[str, int] = {}
        anchors = []
        for row in self.rows:
            name = slug(" ".join(row.cells[i][0] for i in naming or range(len(row.cells)))) or "row"
            seen[name] = seen.get(name, 0) + 1
            anchors.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
        return anchors

    def markdown(self) -> str:
        texts = [[text for text, _ in row.cells] for row in self.rows]
        return pd.DataFrame(texts, columns=[c.header for c in self.columns]).to_markdown(index=False)


def cell(values: pd.Series, seeds: int, interval: bool = True) -> tuple[str, float | None]:
    """Mean ± CI half-width of one figure over a row's runs (its own n where fewer than the
    row's ``seeds`` runs report it), and the mean to sort by; the mean alone for a figure that
    is itself an interval (``interval`` False)."""
    values = values.dropna()
    if values.empty:
        return "–", None
    if not pd.api.types.is_numeric_dtype(values):  # yes/no checks: all runs agree, or how many said yes
        return (values.iloc[0] if values.nunique() == 1 else f"{(values == 'yes').sum()}/{len(values)} yes"), None
    ci = mean_ci(values.tolist())
    text = format_number(ci.mean)
    if not interval:
        return f"± {text} (mean of runs)", ci.mean
    if ci.half_width is not None:
        text += f" ± {format_number(ci.half_width, 2)}"
    return text + (f" (n = {ci.n})" if ci.n < seeds else ""), ci.mean


def figures_of(records: list[dict[str, Any]], evaluation: str) -> list[dict[str, Any]]:
    """The figures ``evaluation`` declared in these records (name, direction, unit), in order."""
    declared: dict[str, dict[str, Any]] = {}
    for r in records:
        for figure in r.get("figures", {}).get(evaluation, []):
            declared.setdefault(figure["name"], figure)
    return list(declared.values())


def figure_header(figure: dict[str, Any]) -> str:
    """The figure's name, its unit and which way is better: ``top1 (%) ↑``; a figure that is
    another's interval says so (``ci95 (% of top1's 95% interval)``)."""
    arrow = {True: " ↑", False: " ↓"}.get(figure.get("higher_is_better"), "")
    unit = figure.get("unit") or ""
    if figure.get("interval_of"):
        unit = f"{unit} half-width of {figure['interval_of']}'s interval in a run".strip()
    return figure["name"] + (f" ({unit})" if unit else "") + arrow


def reported_figures(runs: Sequence[dict[str, Any]], evaluation: str, figure: str) -> list[dict[str, Any]]:
    """The paper's figures for ``evaluation``/``figure`` that these runs of one row carry (each
    record holds only the figures whose setting it matches), without repeats."""
    found: dict[tuple[Any, str], dict[str, Any]] = {}
    for r in runs:
        for fig in r.get("reported", []):
            if fig["metric"] in (figure, f"{evaluation}/{figure}"):
                found.setdefault((fig["value"], fig["setting"]), fig)
    return list(found.values())


def paper_cell(figures: list[dict[str, Any]]) -> tuple[str, float | None]:
    value = figures[0]["value"]
    return "; ".join(f"{f['value']} ({f['setting']})" for f in figures), (
        float(value) if isinstance(value, (int, float)) else None)


def row_label(method: str, settings: str) -> str:
    return method + (f" ({settings})" if settings else "")


def runs_of(runs: pd.DataFrame, records: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    return tuple(records[key] for key in runs.sort_values("seed").key)


def best_first(value: float | None, higher_is_better: bool | None) -> tuple[bool, float]:
    """A sort key: rows without the value last, the others best first (ascending without a direction)."""
    if value is None or math.isnan(value):
        return True, 0.0
    return False, -value if higher_is_better else value


def code_cell(runs: Sequence[dict[str, Any]]) -> tuple[str, None]:
    """Which project commit and which code fingerprint (the run key's ``code``) a row's runs come from."""
    pairs = dict.fromkeys(f"{((r.get('environment') or {}).get('git_commit') or 'unknown')[:10]} · {r.get('code', '?')}"
                          for r in runs)
    return "; ".join(pairs), None


def column_of(frame: pd.DataFrame, figure: str) -> str | None:
    """The first ``evaluation/figure`` column of that figure, whichever evaluation reports it."""
    return next((c for c in frame.columns if c.partition("/")[2] == figure and not c.startswith("method/")), None)
