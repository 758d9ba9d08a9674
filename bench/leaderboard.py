"""Records → pandas → markdown leaderboards and plots.

One file per task (``<task>.md``) with a section per preset and task setting, a table per
evaluation, one row per method + its settings + hardware (with its CPU thread count), cells the mean over seeds ± the
half-width of its 95% confidence interval (t distribution: :func:`ucdbench.stats.mean_ci`) with
the seed count. Where a section has reference rows (runs of methods that declare
``reference_row``, carried in their records), a table gives every row's paired difference from
them on the task's primary metric, seed by seed, with the paired t-test's p-value
(:func:`ucdbench.stats.paired_comparison`). A paper's figure stands beside the
reproduced one, in whichever evaluation's table reports it, for the runs in the setting the paper quotes (each record
carries only the figures whose setting it matches). The header names the project commit the
records were produced with. Each section opens with its charts (:func:`section_charts`, drawn
under ``<task>-plots/``): one per chart axis the records' figures declare
(``ucdbench.api.ChartAxis``), of that section's rows alone, with their Pareto frontier. Nothing
here names a method, an evaluation or a figure: what a leaderboard shows comes from what the
records declare. Images evaluations attached to runs (``EvaluationContext.attach``) follow the tables,
those of each row's lowest seed, copied beside the page under ``<task>-images/``. The same
:class:`TaskBoard` feeds the HTML site (:mod:`ucdbench.site`). ``README.md`` indexes
the tasks, and judges the claims of experiment files given to it. Only successful runs count;
failed ones are listed as failed.
"""

from __future__ import annotations

import math
import re
import shutil
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ucdbench.stats import CONFIDENCE, format_p, mean_ci, paired_comparison

if TYPE_CHECKING:
    from ucdbench.experiments import Claim
    from ucdbench.views import View

def _settings(overrides: dict[str, Any], task: bool) -> str:
    items = {k: v for k, v in overrides.items() if k.startswith("task.") == task}
    return ", ".join(f"{k.removeprefix('task.')}={v}" for k, v in sorted(items.items())) or ("default" if task else "")


def hardware_label(hardware: dict[str, Any]) -> str:
    """``kind: name``, with the thread count where the hardware records one: a row's runs share
    it, because timings (and, through float reductions, the other figures) depend on it."""
    label = f"{hardware.get('kind', '?')}: {hardware.get('name', '?')}"
    threads = hardware.get("threads")
    return f"{label}, {threads} thread{'' if threads == 1 else 's'}" if threads else label


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run; figures as ``evaluation/figure`` columns."""
    rows = []
    for r in records:
        hardware = r.get("hardware", {})
        row = {
            "key": r["key"], "status": r["status"], "error": r.get("error"),
            "task": r["task"]["name"], "preset": r.get("preset"), "seed": r.get("seed"),
            "method": r["method"]["name"], "settings": _settings(r.get("overrides", {}), task=False),
            "task_settings": _settings(r.get("overrides", {}), task=True),
            "hardware": hardware_label(hardware),
            "primary": r["task"].get("primary_metric"),
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
    return pd.DataFrame(rows)


def format_number(value: float, digits: int = 4) -> str:
    """``value`` for a reader: ``digits`` significant digits, never exponent notation for
    large numbers (189,234 samples/s, not 1.892e+05); integers exactly, with thousands
    separators (549,572 bytes must not read as 549,600). NaN and infinities as themselves:
    an undefined figure (an attack's success where clean and dense compute are equal) is one."""
    if not math.isfinite(value):
        return str(value)
    if value == round(value) and abs(value) < 1e15:
        return f"{round(value):,}"
    if abs(value) >= 10 ** (digits - 1):
        return f"{round(value):,}"
    return f"{value:.{digits}g}"


def format_difference(difference: float, improvement: float | None, details: str = "") -> str:
    """A difference for a reader, signed, and saying which way is better where the figure has a
    direction (``improvement``: the same difference, > 0 when better): ``+2.9 (better)``,
    ``−2.1 (worse)``; ``details`` join the words in brackets (``+2.9 (better, n = 3)``)."""
    sign = "+" if difference > 0 else "−" if difference < 0 else "±"
    words = [] if not improvement else ["better" if improvement > 0 else "worse"]
    words += [details] if details else []
    return sign + format_number(abs(difference), 3) + (f" ({', '.join(words)})" if words else "")


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


@dataclass(frozen=True)
class Table:
    """What a leaderboard table shows, best row first; markdown pages and the HTML site render it."""

    columns: tuple[Column, ...]
    rows: tuple[Row, ...]

    def markdown(self) -> str:
        texts = [[text for text, _ in row.cells] for row in self.rows]
        return pd.DataFrame(texts, columns=[c.header for c in self.columns]).to_markdown(index=False)


def _cell(values: pd.Series, seeds: int) -> tuple[str, float | None]:
    """Mean ± CI half-width of one figure over a row's runs (its own n where fewer than the
    row's ``seeds`` runs report it), and the mean to sort by."""
    values = values.dropna()
    if values.empty:
        return "–", None
    if not pd.api.types.is_numeric_dtype(values):  # yes/no checks: all runs agree, or how many said yes
        return (values.iloc[0] if values.nunique() == 1 else f"{(values == 'yes').sum()}/{len(values)} yes"), None
    ci = mean_ci(values.tolist())
    text = format_number(ci.mean)
    if ci.half_width is not None:
        text += f" ± {format_number(ci.half_width, 2)}"
    return text + (f" (n = {ci.n})" if ci.n < seeds else ""), ci.mean


def _figures_of(records: list[dict[str, Any]], evaluation: str) -> list[dict[str, Any]]:
    """The figures ``evaluation`` declared in these records (name, direction, unit), in order."""
    declared: dict[str, dict[str, Any]] = {}
    for r in records:
        for figure in r.get("figures", {}).get(evaluation, []):
            declared.setdefault(figure["name"], figure)
    return list(declared.values())


def _header(figure: dict[str, Any]) -> str:
    arrow = {True: " ↑", False: " ↓"}.get(figure.get("higher_is_better"), "")
    return figure["name"] + arrow


def reported_figures(runs: Sequence[dict[str, Any]], evaluation: str, figure: str) -> list[dict[str, Any]]:
    """The paper's figures for ``evaluation``/``figure`` that these runs of one row carry (each
    record holds only the figures whose setting it matches), without repeats."""
    found: dict[tuple[Any, str], dict[str, Any]] = {}
    for r in runs:
        for fig in r.get("reported", []):
            if fig["metric"] in (figure, f"{evaluation}/{figure}"):
                found.setdefault((fig["value"], fig["setting"]), fig)
    return list(found.values())


def _paper_cell(figures: list[dict[str, Any]]) -> tuple[str, float | None]:
    value = figures[0]["value"]
    return "; ".join(f"{f['value']} ({f['setting']})" for f in figures), (
        float(value) if isinstance(value, (int, float)) else None)


def _row_label(method: str, settings: str) -> str:
    return method + (f" ({settings})" if settings else "")


def _runs_of(runs: pd.DataFrame, records: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    return tuple(records[key] for key in runs.sort_values("seed").key)


def _best_first(value: float | None, higher_is_better: bool | None) -> tuple[bool, float]:
    """A sort key: rows without the value last, the others best first (ascending without a direction)."""
    if value is None or math.isnan(value):
        return True, 0.0
    return False, -value if higher_is_better else value


def _table(group: pd.DataFrame, records: dict[str, dict[str, Any]], evaluation: str,
           figures: list[dict[str, Any]]) -> Table:
    """One row per method + settings + hardware, sorted best first by the first figure that
    has a direction; headers carry ↑ (higher is better) or ↓; each paper figure stands right
    beside the reproduced one."""
    columns = [f"{evaluation}/{f['name']}" for f in figures]
    ranked = next((f for f in figures if f.get("higher_is_better") is not None), None)
    sort_by = f"{evaluation}/{ranked['name']}" if ranked else None
    rows = []
    for (method, settings, hardware), runs in group.groupby(["method", "settings", "hardware"], sort=False, dropna=False):
        if not runs[[c for c in columns if c in runs]].notna().any().any():
            continue  # this method has no figures for this evaluation
        run_records = _runs_of(runs, records)
        cells = {"method": (_row_label(method, settings), None), "seeds": (str(len(runs)), float(len(runs)))}
        for column, figure in zip(columns, figures):
            cells[figure["name"]] = _cell(runs[column], len(runs)) if column in runs else ("–", None)
            paper = reported_figures(run_records, evaluation, figure["name"])
            if paper:
                cells[f"{figure['name']} (paper)"] = _paper_cell(paper)
        cells["hardware"] = (hardware, None)
        sort_value = float(runs[sort_by].mean()) if sort_by in runs else None
        rows.append((_best_first(sort_value, ranked["higher_is_better"] if ranked else None), cells, run_records))
    rows.sort(key=lambda row: row[0])
    header = [Column("method"), Column("seeds")]
    for figure in figures:
        header.append(Column(_header(figure), figure.get("higher_is_better")))
        paper = f"{figure['name']} (paper)"
        if any(paper in cells for _, cells, _ in rows):
            header.append(Column(paper, figure.get("higher_is_better")))
    header.append(Column("hardware"))
    keys = ["method", "seeds"] + [k for f in figures for k in (f["name"], f"{f['name']} (paper)")
                                  if k == f["name"] or any(k in cells for _, cells, _ in rows)] + ["hardware"]
    return Table(tuple(header), tuple(Row(tuple(cells.get(k, ("–", None)) for k in keys), run_records)
                                      for _, cells, run_records in rows))


def _difference_cell(values: dict[int, float], reference: dict[int, float],
                     higher_is_better: bool | None) -> tuple[str, float | None]:
    """Mean paired difference (row − reference) with its p-value and the seeds it pairs, and
    the difference to sort by."""
    comparison = paired_comparison(values, reference, higher_is_better)
    if comparison.mean_difference is None:
        return "– (no shared seed)", None
    if comparison.p_value is None:
        details = "n = 1"
    else:
        p = "p < 0.001" if comparison.p_value < 0.001 else f"p = {format_p(comparison.p_value)}"
        details = f"{p}, n = {comparison.n}"
    return format_difference(comparison.mean_difference, comparison.improvement, details), comparison.mean_difference


def is_reference(record: dict[str, Any]) -> bool:
    """Whether ``record`` is a run of a method that declares itself a reference row."""
    return bool(record["method"].get("reference_row"))


def reference_methods(records: Sequence[dict[str, Any]]) -> list[str]:
    """The methods of ``records`` that declare themselves reference rows, in name order."""
    return sorted({r["method"]["name"] for r in records if is_reference(r)})


def _reference_table(group: pd.DataFrame, records: dict[str, dict[str, Any]], primary: str,
                     higher_is_better: bool | None) -> Table | None:
    """Every row's paired difference on ``primary`` from each reference row of the section
    (:func:`is_reference`, whatever their settings; in method then settings order) on the same
    hardware; None when the section has no reference row."""
    column = _column(group, primary)
    if column is None:
        return None
    rows: dict[tuple[str, str, str], dict[int, float]] = {}
    runs_of: dict[tuple[str, str, str], tuple[dict[str, Any], ...]] = {}
    for (method, settings, hardware), runs in group.groupby(["method", "settings", "hardware"], sort=False):
        values = runs.dropna(subset=[column])
        if not values.empty:
            rows[method, settings, hardware] = dict(zip(values.seed.astype(int), values[column]))
            runs_of[method, settings, hardware] = _runs_of(values, records)
    references = sorted({(m, s) for (m, s, _), runs in runs_of.items() if is_reference(runs[0])})
    if not references:
        return None
    ordered = sorted(rows, key=lambda row: statistics.fmean(rows[row].values()),
                     reverse=higher_is_better is not False)
    headers = [f"vs {ref_method}" + (f" ({ref_settings})" if ref_settings else "")
               for ref_method, ref_settings in references]
    table = []
    for method, settings, hardware in ordered:
        cells: list[tuple[str, float | None]] = [(_row_label(method, settings), None)]
        for ref_method, ref_settings in references:
            reference = rows.get((ref_method, ref_settings, hardware))
            if (method, settings) == (ref_method, ref_settings):
                cells.append(("(reference)", 0.0))
            elif reference is None:
                cells.append(("– (not on this hardware)", None))
            else:
                cells.append(_difference_cell(rows[method, settings, hardware], reference, higher_is_better))
        cells.append((hardware, None))
        table.append(Row(tuple(cells), runs_of[method, settings, hardware]))
    columns = (Column("method"), *(Column(h, higher_is_better) for h in headers), Column("hardware"))
    return Table(columns, tuple(table))


def _figures_elsewhere(records: list[dict[str, Any]]) -> Table | None:
    """A table of the figures the methods' papers report for settings none of ``records`` is in."""
    shown = {(r["method"]["name"], f["metric"], f["value"]) for r in records for f in r.get("reported", [])}
    rows: dict[tuple, Row] = {}
    for r in records:
        for f in r.get("reported_elsewhere", []):
            key = (r["method"]["name"], f["metric"], f["value"])
            if key not in shown and key not in rows:
                value = float(f["value"]) if isinstance(f["value"], (int, float)) else None
                rows[key] = Row(((key[0], None), (f["task"], None), (f["metric"], None), (str(f["value"]), value),
                                 (f["setting"], None), (f["source"], None)))
    columns = tuple(Column(name) for name in ("method", "task", "figure", "value", "setting", "source"))
    return Table(columns, tuple(rows.values())) if rows else None


def _commits(records: list[dict[str, Any]]) -> str:
    """Which project commit(s) produced these records, for the leaderboard's header."""
    counts: dict[str, int] = {}
    for r in records:
        commit = (r.get("environment") or {}).get("git_commit") or "unknown"
        counts[commit] = counts.get(commit, 0) + 1
    if len(counts) == 1:
        return f"project commit `{next(iter(counts))}`"
    return "project commits " + ", ".join(f"`{c}` ({n} runs)" for c, n in sorted(counts.items()))


def _column(frame: pd.DataFrame, figure: str) -> str | None:
    """The first ``evaluation/figure`` column of that figure, whichever evaluation reports it."""
    return next((c for c in frame.columns if c.partition("/")[2] == figure and not c.startswith("method/")), None)


@dataclass(frozen=True)
class ChartKind:
    """A chart one evaluation's figure declares (its ``ucdbench.api.ChartAxis``, as its records
    carry it), with the axes as ``evaluation/figure`` columns: ``y`` None plots the task's
    primary metric. See :class:`ucdbench.api.ChartAxis` for which rows each chart shows."""

    name: str
    title: str
    x: str
    x_label: str
    y: str | None = None
    saving: str | None = None
    below: float = 0.0
    log_x: bool = False
    exclusive: bool = False
    diagonal: str | None = None

    @classmethod
    def declared(cls, evaluation: str, figure: str, axis: dict[str, Any]) -> ChartKind:
        """The chart that ``evaluation``'s ``figure`` declares by its record's ``axis``."""
        column = f"{evaluation}/{{}}".format
        return cls(axis["name"], axis.get("title", "{y} against {x}"), column(figure),
                   axis["label"], column(axis["y"]) if axis.get("y") else None,
                   column(axis["saving"]) if axis.get("saving") else None, axis.get("saves_below", 0.0),
                   bool(axis.get("log_scale")), bool(axis.get("exclusive")), axis.get("diagonal"))


def chart_kinds(records: Sequence[dict[str, Any]]) -> list[ChartKind]:
    """The charts the figures of ``records`` declare, in the order the records declare them;
    a chart name declared twice is the first declaration's."""
    kinds: dict[str, ChartKind] = {}
    for r in records:
        for evaluation, figures in r.get("figures", {}).items():
            for figure in figures:
                if figure.get("chart"):
                    kinds.setdefault(figure["chart"]["name"], ChartKind.declared(evaluation, figure["name"],
                                                                                 figure["chart"]))
    return list(kinds.values())


@dataclass(frozen=True)
class Point:
    """One row of a chart: the means over its seeds with their confidence intervals, and the
    paper's figures that apply to its runs as ``(x, y, setting)`` (x: the paper's, else the row's)."""

    label: str
    x: Any
    y: Any
    paper: tuple[tuple[float, float, str], ...] = ()


@dataclass(frozen=True)
class Chart:
    """The comparable rows of one section, for one kind of result."""

    kind: ChartKind
    x_label: str
    y_label: str
    x_higher_is_better: bool | None
    y_higher_is_better: bool | None
    points: tuple[Point, ...]
    title: str = ""

    @property
    def frontier(self) -> list[int]:
        return pareto_front([(p.x.mean, p.y.mean) for p in self.points], self.x_higher_is_better,
                            self.y_higher_is_better)


def pareto_front(points: Sequence[tuple[float, float]], x_higher_is_better: bool | None,
                 y_higher_is_better: bool | None) -> list[int]:
    """Indices of the points no other point dominates — at least as good on both axes and
    better on one, each axis in its own direction — ordered by x; none when an axis has no
    better direction (then there is no frontier to speak of)."""
    if x_higher_is_better is None or y_higher_is_better is None:
        return []
    sign_x, sign_y = (1 if x_higher_is_better else -1), (1 if y_higher_is_better else -1)
    oriented = [(sign_x * x, sign_y * y) for x, y in points]  # larger is better on both

    def dominated(i: int) -> bool:
        xi, yi = oriented[i]
        return any(xj >= xi and yj >= yi and (xj > xi or yj > yi) for xj, yj in oriented)

    return sorted((i for i in range(len(points)) if not dominated(i)), key=lambda i: points[i][0])


def _declared(records: Sequence[dict[str, Any]], column: str) -> dict[str, Any]:
    evaluation, _, name = column.partition("/")
    return next((f for f in _figures_of(list(records), evaluation) if f["name"] == name), {"name": name})


def _axis_label(figure: dict[str, Any], name: str | None = None) -> str:
    """``name`` (default: the figure's name and unit) and which way is better."""
    text = name or figure["name"] + (f" ({figure['unit']})" if figure.get("unit") else "")
    return text + {True: ", higher is better", False: ", lower is better"}.get(
        figure.get("higher_is_better"), "")


def section_charts(group: pd.DataFrame, records: dict[str, dict[str, Any]], primary: str | None) -> list[Chart]:
    """The charts of one section (a preset and task settings): one per chart its records'
    figures declare (:func:`chart_kinds`), each with only the rows it compares. A row's kind
    comes from what its records report — attacked compute, stored bytes below the dense
    model's, FLOPs below the base model's — never from its method's name."""
    rows = list(group.groupby(["method", "settings", "hardware"], sort=True))
    kinds = chart_kinds([records[key] for key in group.key])
    several_machines = group.hardware.nunique() > 1

    def label(method: str, settings: str, hardware: str) -> str:
        return _row_label(method, settings) + (f" [{hardware}]" if several_machines else "")

    def reports(runs: pd.DataFrame, columns: tuple[str, ...] | None) -> bool:
        return columns is not None and runs[list(columns)].notna().all(axis=1).any()

    def axes(kind: ChartKind) -> tuple[str, str] | None:
        """The chart's x and y columns, where the section has them."""
        y = kind.y or (_column(group, primary) if primary else None)
        return (kind.x, y) if kind.x in group and y in group else None

    reporters = {kind.name: {keys for keys, runs in rows if reports(runs, axes(kind))}
                 for kind in kinds if not kind.saving}
    exclusive = set().union(*(reporters[kind.name] for kind in kinds if kind.exclusive and not kind.saving))
    saves: dict[str, set[tuple[str, str, str]]] = {}
    for kind in kinds:
        if kind.saving and kind.x in group and kind.saving in group:
            saves[kind.name] = {keys for keys, runs in rows if keys not in exclusive
                                and runs[kind.saving].notna().any() and runs[kind.saving].mean() < kind.below}
    saving_any = set().union(*saves.values())
    charts = []
    for kind in kinds:
        columns = axes(kind)
        if kind.saving:
            if not saves.get(kind.name):
                continue
            members = {keys for keys, _ in rows if keys in saves[kind.name] or (keys not in exclusive and keys not in saving_any)}
        else:
            members = reporters[kind.name]
        if columns is None or not members:
            continue
        points = []
        for keys, runs in rows:
            if keys not in members or not reports(runs, columns):
                continue
            runs = runs.dropna(subset=list(columns))
            x, y = mean_ci(runs[columns[0]].tolist()), mean_ci(runs[columns[1]].tolist())
            run_records = _runs_of(runs, records)
            x_paper = reported_figures(run_records, *columns[0].split("/", 1))
            paper = tuple((float(x_paper[0]["value"]) if x_paper else x.mean, float(f["value"]), f["setting"])
                          for f in reported_figures(run_records, *columns[1].split("/", 1))
                          if isinstance(f["value"], (int, float)))
            points.append(Point(label(*keys), x, y, paper))
        if not points:
            continue
        some = [records[key] for key in group.key]
        x_figure, y_declared = _declared(some, columns[0]), _declared(some, columns[1])
        charts.append(Chart(kind, _axis_label(x_figure, kind.x_label), _axis_label(y_declared),
                            x_figure.get("higher_is_better"), y_declared.get("higher_is_better"), tuple(points),
                            kind.title.replace("{y}", y_declared["name"]).replace("{x}", kind.x_label)))
    return charts


_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
            "#bcbd22")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")


def draw_chart(chart: Chart, heading: str, path: Path) -> None:
    """``chart`` as a PNG: each row's mean ± its 95% CI over seeds on both axes, the paper's
    figures as stars in the row's colour, the Pareto frontier as a dashed line, a legend below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    frontier = chart.frontier
    for i, point in enumerate(chart.points):
        colour, marker = _COLOURS[i % len(_COLOURS)], _MARKERS[(i // len(_COLOURS)) % len(_MARKERS)]
        ax.errorbar(point.x.mean, point.y.mean, xerr=point.x.half_width or 0, yerr=point.y.half_width or 0,
                    fmt=marker, color=colour, capsize=3, markersize=7, label=point.label,
                    markeredgecolor="black" if i in frontier else colour)
        for x, y, _ in point.paper:
            ax.plot(x, y, marker="*", markersize=14, markerfacecolor="none", markeredgecolor=colour, linestyle="none")
    if any(p.paper for p in chart.points):
        ax.plot([], [], marker="*", markersize=12, markerfacecolor="none", markeredgecolor="black", linestyle="none",
                label="the paper's figure (row's colour)")
    if len(frontier) > 1:
        ax.plot([chart.points[i].x.mean for i in frontier], [chart.points[i].y.mean for i in frontier],
                linestyle="--", color="grey", linewidth=1, zorder=0, label="Pareto frontier (outlined points)")
    if chart.kind.diagonal:
        low, high = ax.get_xlim()
        ax.plot([low, high], [low, high], linestyle=":", color="grey", zorder=0, label=chart.kind.diagonal)
    if chart.kind.log_x:
        ax.set_xscale("log")
    ax.set_xlabel(chart.x_label)
    ax.set_ylabel(chart.y_label)
    ax.set_title(f"{chart.title}\n{heading} (mean ± {CONFIDENCE:.0%} CI over seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.14), ncol=2, frameon=False)  # below: never over a point
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def chart_file(preset: str, task_settings: str, chart: Chart) -> str:
    """A file name for a section's chart that stays the same from build to build."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", f"{preset}-{task_settings}-{chart.kind.name}").strip("-") + ".png"


@dataclass(frozen=True)
class Attachment:
    """An image attached to the lowest seed of a row: where it is in the results folder, the
    name it gets beside a page, its caption."""

    method: str
    settings: str
    seed: int
    hardware: str
    source: Path
    name: str
    caption: str


def attachments(group: pd.DataFrame, records: dict[str, dict[str, Any]], results: Path) -> list[Attachment]:
    """The images attached to the lowest seed of each row of ``group`` whose files are in ``results``."""
    found = []
    for (method, settings, hardware), row in group.groupby(["method", "settings", "hardware"], sort=True):
        first = records[row.sort_values("seed").key.iloc[0]]
        for attachment in first.get("attachments", []):
            if (results / attachment["file"]).is_file():
                found.append(Attachment(method, settings, first["seed"], hardware, results / attachment["file"],
                                        f"{first['key'][:12]}-{attachment['evaluation']}-{Path(attachment['file']).name}",
                                        attachment["caption"]))
    return found


def _images(found: list[Attachment], out: Path, folder: str) -> list[str]:
    """Markdown showing ``found`` under their rows, copied to ``out / folder``."""
    lines: list[str] = []
    for i, image in enumerate(found):
        if i == 0 or (found[i - 1].method, found[i - 1].settings, found[i - 1].hardware) != (
                image.method, image.settings, image.hardware):
            lines += [f"**{image.method}**" + (f" ({image.settings})" if image.settings else "")
                      + f", seed {image.seed}, {image.hardware}:", ""]
        (out / folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(image.source, out / folder / image.name)
        lines += [f"![{image.caption}]({folder}/{image.name})", "", f"*{image.caption}*", ""]
    return lines


@dataclass
class Section:
    """One preset and task setting of a task: its tables, comparisons with the references and charts."""

    preset: str
    task_settings: str
    group: pd.DataFrame
    tables: list[tuple[str, Table]] = field(default_factory=list)
    references: Table | None = None
    charts: list[Chart] = field(default_factory=list)

    @property
    def heading(self) -> str:
        return f"preset `{self.preset}`, task settings: {self.task_settings}"


@dataclass
class TaskBoard:
    """Everything a task's page shows, for markdown and HTML alike."""

    task: str
    frame: pd.DataFrame
    records: dict[str, dict[str, Any]]
    primary: str | None
    higher_is_better: dict[str, bool | None]
    sections: list[Section]
    elsewhere: Table | None

    @property
    def ok(self) -> pd.DataFrame:
        return self.frame[self.frame.status == "ok"]

    def references_note(self) -> str:
        """What the table against the references shows, naming this board's reference methods."""
        names = reference_methods([self.records[key] for key in self.ok.key])
        return REFERENCES_NOTE.format(primary=self.primary, references=", ".join(f"`{n}`" for n in names))

    @property
    def failed(self) -> pd.DataFrame:
        return self.frame[self.frame.status != "ok"]

    def summary(self, tool: str) -> str:
        """The page's opening paragraph: where the figures come from and how to read them."""
        ok_records = [self.records[key] for key in self.ok.key]
        return (f"Generated by `ucdbench {tool}` from {len(self.ok)} successful runs ({len(self.failed)} failed or unfinished) of "
                f"{_commits(ok_records)}. Cells are the mean over seeds ± the half-width of its {CONFIDENCE:.0%} "
                "confidence interval (t distribution, n − 1 degrees of freedom; equal runs give ± 0, one run no "
                "interval); `seeds` counts the runs, n (a cell that fewer runs report gives its own n); ↑ higher is "
                "better, ↓ lower is better, and each table lists the best first by its first such figure. "
                f"Primary metric: **{self.primary}**"
                + (" (higher is better)." if self.higher_is_better.get(self.primary, True) else " (lower is better).")
                + " FLOPs = 2 × multiply-adds; `macs` is what most papers call FLOPs.")


def task_board(task: str, records: list[dict[str, Any]], frame: pd.DataFrame) -> TaskBoard:
    """The tables and charts of one task's runs."""
    ok = frame[frame.status == "ok"]
    primary = ok.primary.dropna().iloc[0] if not ok.empty else None
    metric_info = next((r["task"].get("metrics", []) for r in records if r["status"] == "ok"), [])
    higher = {m["name"]: m["higher_is_better"] for m in metric_info}
    by_key = {r["key"]: r for r in records}
    ok_records = [by_key[key] for key in ok.key]
    evaluations = list(dict.fromkeys(e for r in records for e in r.get("evaluations", {})))
    sections = []
    for (preset, task_settings), group in ok.groupby(["preset", "task_settings"], sort=True):
        section = Section(preset, task_settings, group)
        for evaluation in evaluations:
            figures = [f for f in _figures_of(ok_records, evaluation)
                       if f"{evaluation}/{f['name']}" in group and group[f"{evaluation}/{f['name']}"].notna().any()]
            if figures:
                section.tables.append((evaluation, _table(group, by_key, evaluation, figures)))
        section.references = _reference_table(group, by_key, primary, higher.get(primary)) if primary else None
        section.charts = section_charts(group, by_key, primary)
        sections.append(section)
    return TaskBoard(task, frame, by_key, primary, higher, sections, _figures_elsewhere(ok_records))


REFERENCES_NOTE = ("Each row's mean difference in {primary} from the reference rows ({references}: methods that declare "
                   "themselves references; row − reference) over the seeds both have, paired seed by seed, with the "
                   "two-sided paired t-test's p-value and the number of pairs; references are taken on the same hardware.")
ALL_FIGURES = "<details><summary>All figures: every evaluation's table, section by section</summary>"
"""Opens the collapsed block the sections go into behind a page's views (GitHub renders the
markdown inside, blank lines around it)."""
ELSEWHERE_NOTE = ("What the papers report for the methods above in settings no row here is in (another dataset, "
                  "model or scale): for orientation, not to compare cell by cell.")


def task_markdown(board: TaskBoard, results: Path | None = None, out: Path | None = None,
                  views: Sequence[View] = ()) -> str:
    """The markdown page of ``board``; with ``out``, its charts are drawn into ``out/<task>-plots/``
    and (with ``results``) attached images copied into ``out/<task>-images/``. With ``views``
    (:mod:`ucdbench.views`), the page leads with them and every section follows, collapsed."""
    task = board.task
    lines = [f"# {task}", "", board.summary("leaderboard"), ""]
    if views:
        from ucdbench.views import views_markdown

        lines += [*views_markdown(views, [board.records[key] for key in board.ok.key]), ALL_FIGURES, ""]
    for section in board.sections:
        lines += [f"## {section.heading}", ""]
        if out is not None:
            for chart in section.charts:
                name = f"{task}-plots/{chart_file(section.preset, section.task_settings, chart)}"
                (out / name).parent.mkdir(parents=True, exist_ok=True)
                draw_chart(chart, f"{task} · {section.preset} · {section.task_settings}", out / name)
                lines += [f"![{chart.title}]({name})", ""]
        for evaluation, table in section.tables:
            lines += [f"### {evaluation}", "", table.markdown(), ""]
        if section.references:
            arrow = {True: " ↑", False: " ↓"}.get(board.higher_is_better.get(board.primary), "")
            lines += [f"### {board.primary}{arrow} against the references", "",
                      board.references_note(), "", section.references.markdown(), ""]
        images = _images(attachments(section.group, board.records, results), out, f"{task}-images") if results and out else []
        if images:
            lines += ["### images", "", *images]
    if views:
        lines += ["</details>", ""]
    if board.elsewhere:
        lines += ["## The papers' figures in other settings", "", ELSEWHERE_NOTE, "", board.elsewhere.markdown(), ""]
    if not board.failed.empty:
        lines += ["## failed or unfinished runs", "",
                  board.failed[["key", "method", "settings", "preset", "seed", "status", "error"]].to_markdown(index=False), ""]
    return "\n".join(lines)


def task_boards(records: list[dict[str, Any]]) -> list[TaskBoard]:
    """One board per task of ``records``, in name order."""
    frame = records_frame(records)
    return [task_board(task, [r for r in records if r["task"]["name"] == task], task_frame)
            for task, task_frame in frame.groupby("task", sort=True)]


def write_leaderboards(records: list[dict[str, Any]], out: Path, results: Path | None = None,
                       claims: Sequence[Claim] = (), views: Sequence[View] = ()) -> list[Path]:
    """Write ``<task>.md`` (+ ``<task>-plots/``, + ``<task>-images/``) per task and ``README.md``;
    returns the paths. ``results`` is the folder the records came from, whose attached images
    the pages show (None: no images); ``claims`` (from experiment files) are judged in the index;
    ``views`` (from experiment files) lead their tasks' pages."""
    if not any(r.get("status") == "ok" for r in records):
        return []
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    index = ["# ucdbench leaderboards", "",
             f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `ucdbench leaderboard` "
             f"from {len(records)} run records.", "", "| task | successful runs | methods | presets |", "|---|---|---|---|"]
    for board in task_boards(records):
        task, ok = board.task, board.ok
        for folder in (f"{task}-plots", f"{task}-images"):  # what an earlier build drew or copied
            shutil.rmtree(out / folder, ignore_errors=True)
        (out / f"{task}.png").unlink(missing_ok=True)  # the one chart per task of earlier versions
        path = out / f"{task}.md"
        path.write_text(task_markdown(board, results, out, [v for v in views if v.task == task]) + "\n")
        written += [path, *sorted((out / f"{task}-plots").glob("*.png"))]
        index.append(f"| [{task}]({task}.md) | {len(ok)} | {', '.join(sorted(ok.method.unique()))} | "
                     f"{', '.join(sorted(ok.preset.dropna().unique()))} |")
    if claims:
        from ucdbench.experiments import claims_markdown, judge_claims

        index += ["", "## Claims", "", CLAIMS_NOTE, "", claims_markdown(list(claims), judge_claims(list(claims), records))]
    readme = out / "README.md"
    readme.write_text("\n".join(index) + "\n")
    return [readme, *written]


CLAIMS_NOTE = ("Each claim compares two rows seed by seed (paired t-test, p < 0.05) on every figure it names, one line "
               "per figure: **holds** when the first is significantly better on the figure, **does not hold** when "
               "it is significantly worse. A difference is the first row's mean minus the second's, with which way "
               "is better by the figure's direction.")
