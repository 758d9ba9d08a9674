"""Leaderboard charts: what each section of a task's page plots, and the PNG of it.

A chart is one axis a figure declares (``ucdbench.api.ChartAxis``, carried in the records) against
the task's primary metric (or the axis's ``y``), one point per row of a section (method +
settings + hardware): the mean over seeds with its 95% confidence interval on both axes, the
paper's figures as stars, and the Pareto frontier. Which rows a chart shows comes from what
their records report, never from a method's name. :mod:`ucdbench.reporting.leaderboard` (markdown pages)
and :mod:`ucdbench.reporting.site` (HTML) both draw with :func:`draw_chart`.

The row helpers charts share with tables (labels, a row's records, the paper's figures) are
:mod:`ucdbench.reporting.tables`'s.
"""

from __future__ import annotations

import colorsys
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ucdbench.core.stats import CONFIDENCE, mean_ci
from ucdbench.reporting.tables import column_of, figures_of, reported_figures, row_label, runs_of, slug


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
    """One row of a chart: its method (which sets its colour), the means over its seeds with their
    confidence intervals, and the paper's figures that apply to its runs as ``(x, y, setting)``
    (x: the paper's, else the row's)."""

    method: str
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
    def log_x(self) -> bool:
        """Whether the x axis is drawn on a log scale: where the chart declares one and its rows
        span a decade or more (:func:`log_scale_fits`)."""
        return self.kind.log_x and log_scale_fits([p.x.mean for p in self.points])

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


def _axis_label(figure: dict[str, Any], name: str | None = None) -> str:
    """``name`` (default: the figure's name and unit) and which way is better."""
    text = name or figure["name"] + (f" ({figure['unit']})" if figure.get("unit") else "")
    return text + {True: ", higher is better", False: ", lower is better"}.get(
        figure.get("higher_is_better"), "")


def section_charts(group: pd.DataFrame, records: dict[str, dict[str, Any]], primary: str | None) -> list[Chart]:
    """The charts of one section (a preset and task settings): one per chart its records'
    figures declare (:func:`chart_kinds`), each with only the rows it compares. A row's kind
    comes from what its records report — attacked compute, stored bytes below the dense
    model's, FLOPs below the base model's — never from its method's name. A chart of several
    rows that all have the same x (or the same y) is left out: that axis means nothing for them
    (one row is drawn: against the paper's figure or a chart's diagonal it still says something)."""
    rows = list(group.groupby(["method", "settings", "hardware"], sort=True))
    kinds = chart_kinds([records[key] for key in group.key])
    members = _chart_members(kinds, rows, group, primary)
    several_machines = group.hardware.nunique() > 1
    some = [records[key] for key in group.key]
    charts = []
    for kind in kinds:
        columns = _axes(kind, group, primary)
        if columns is None or not members[kind.name]:
            continue
        points = [_point(keys, runs, columns, records, several_machines) for keys, runs in rows
                  if keys in members[kind.name] and _reports(runs, columns)]
        if not points or (len(points) > 1 and any(len({getattr(p, axis).mean for p in points}) == 1
                                                  for axis in ("x", "y"))):
            continue  # rows all at one x (or one y): that axis tells them nothing apart
        x_figure, y_declared = _declared(some, columns[0]), _declared(some, columns[1])
        charts.append(Chart(kind, _axis_label(x_figure, kind.x_label), _axis_label(y_declared),
                            x_figure.get("higher_is_better"), y_declared.get("higher_is_better"), tuple(points),
                            kind.title.replace("{y}", y_declared["name"]).replace("{x}", kind.x_label)))
    return charts


_Row = tuple[tuple[str, str, str], pd.DataFrame]
"""A section's row: (method, settings, hardware) and its runs."""


def _axes(kind: ChartKind, group: pd.DataFrame, primary: str | None) -> tuple[str, str] | None:
    """The chart's x and y columns, where the section has them."""
    y = kind.y or (column_of(group, primary) if primary else None)
    return (kind.x, y) if kind.x in group and y in group else None


def _reports(runs: pd.DataFrame, columns: tuple[str, ...] | None) -> bool:
    """Some run of the row has a value in every one of ``columns``."""
    return columns is not None and runs[list(columns)].notna().all(axis=1).any()


def _chart_members(kinds: Sequence[ChartKind], rows: list[_Row], group: pd.DataFrame,
                   primary: str | None) -> dict[str, set[tuple[str, str, str]]]:
    """Each chart's rows. A chart without a saving has the rows that report both its axes; a
    saving chart has the rows whose records save what it declares (below ``kind.below``) and
    are on no exclusive chart, beside the rows on no exclusive or saving chart at all (what they
    save against); a saving chart that no row saves on has none."""
    members = {kind.name: {keys for keys, runs in rows if _reports(runs, _axes(kind, group, primary))}
               for kind in kinds if not kind.saving}
    exclusive = set().union(*(members[kind.name] for kind in kinds if kind.exclusive and not kind.saving))
    saves: dict[str, set[tuple[str, str, str]]] = {}
    for kind in kinds:
        if kind.saving and kind.x in group and kind.saving in group:
            saves[kind.name] = {keys for keys, runs in rows if keys not in exclusive
                                and runs[kind.saving].notna().any() and runs[kind.saving].mean() < kind.below}
    saving_any = set().union(*saves.values())
    for kind in kinds:
        if kind.saving:
            members[kind.name] = {keys for keys, _ in rows if keys in saves[kind.name]
                                  or (keys not in exclusive and keys not in saving_any)} if saves.get(kind.name) else set()
    return members


def _point(keys: tuple[str, str, str], runs: pd.DataFrame, columns: tuple[str, str],
           records: dict[str, dict[str, Any]], several_machines: bool) -> Point:
    """A row's point: the means and intervals of its runs that have both columns, and the paper's
    figures its records report (at the paper's x, else at the row's)."""
    runs = runs.dropna(subset=list(columns))
    x, y = mean_ci(runs[columns[0]].tolist()), mean_ci(runs[columns[1]].tolist())
    run_records = runs_of(runs, records)
    x_paper = reported_figures(run_records, *columns[0].split("/", 1))
    paper = tuple((float(x_paper[0]["value"]) if x_paper else x.mean, float(f["value"]), f["setting"])
                  for f in reported_figures(run_records, *columns[1].split("/", 1))
                  if isinstance(f["value"], (int, float)))
    method, settings, hardware = keys
    return Point(method, row_label(method, settings) + (f" [{hardware}]" if several_machines else ""), x, y, paper)


def _declared(some: Sequence[dict[str, Any]], column: str) -> dict[str, Any]:
    """The figure ``column`` names as ``some`` records declare it (name, direction, unit)."""
    evaluation, _, name = column.partition("/")
    return next((f for f in figures_of(list(some), evaluation) if f["name"] == name), {"name": name})


PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
           "#bcbd22")
"""The colours methods take in name order (matplotlib's tab10, red second)."""
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
"""The markers a method's rows take in turn on a chart (its settings variants, its machines)."""
_GOLDEN = 0.618033988749895


@dataclass(frozen=True)
class MethodColours:
    """One colour per method on every chart and page of one build, whatever rows a chart has.

    The methods of all the build's records (:meth:`of_records`), in name order, take the
    :data:`PALETTE` in turn; those beyond it take hues spaced by the golden ratio, and a method
    the build did not list a hue from its name's CRC-32: deterministic, never a point's index.
    """

    methods: tuple[str, ...]

    @classmethod
    def of_records(cls, records: Iterable[dict[str, Any]]) -> MethodColours:
        """The colours of the methods of ``records`` (successful or not: a failed run does not
        shift the others' colours)."""
        return cls(tuple(sorted({r["method"]["name"] for r in records})))

    def colour(self, method: str) -> str:
        """``#rrggbb`` of ``method``."""
        i = self.methods.index(method) if method in self.methods else None
        if i is not None and i < len(PALETTE):
            return PALETTE[i]
        hue = ((i - len(PALETTE)) * _GOLDEN if i is not None else zlib.crc32(method.encode()) / 2 ** 32) % 1.0
        return "#" + "".join(f"{round(255 * c):02x}" for c in colorsys.hsv_to_rgb(hue, 0.7, 0.8))


def tick_label(value: float, _position: object = None) -> str:
    """A short tick label: plain digits (no offset, no exponent) below 10⁴, then k and M."""
    for scale, divisor, suffix in ((1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(value) >= scale:
            return f"{value / divisor:g}{suffix}"
    return f"{value:g}"


def log_scale_fits(values: Sequence[float]) -> bool:
    """Whether a log axis shows ``values`` better than a linear one: all positive and spanning a
    decade or more (under a decade a log axis has no labelled decade and crowds its minor ticks)."""
    return bool(values) and min(values) > 0 and max(values) / min(values) >= 10


def _overlapping(labels: Sequence[Any], renderer: Any) -> bool:
    boxes = sorted((label.get_window_extent(renderer) for label in labels if label.get_text()), key=lambda b: b.x0)
    return any(left.x1 > right.x0 for left, right in zip(boxes, boxes[1:]))


def _format_axes(ax: Any, log_x: bool) -> None:
    """Readable ticks: at most 6 per axis, plain labels (:func:`tick_label`), the x labels
    rotated where they would still overlap."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    if log_x:
        ax.set_xscale("log")
        low, high = ax.get_xlim()
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if high / low < 1e3 else (1.0,)))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(tick_label))
    renderer = ax.figure.canvas.get_renderer()
    ax.figure.canvas.draw()
    if _overlapping(ax.get_xticklabels(), renderer):
        for label in ax.get_xticklabels():
            label.set(rotation=35, horizontalalignment="right")


def chart_figure(chart: Chart, heading: str, colours: MethodColours) -> Any:
    """``chart`` as a matplotlib figure: each row's mean ± its 95% CI over seeds on both axes in
    its method's colour (a method's rows differ by marker), the paper's figures as stars in the
    row's colour, the Pareto frontier as a dashed line, a legend below. The x axis is logarithmic
    only where the chart asks for it and the rows span a decade (:attr:`Chart.log_x`; the axis
    label says so where it is not)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    frontier = chart.frontier
    seen: dict[str, int] = {}
    for i, point in enumerate(chart.points):
        colour = colours.colour(point.method)
        marker = MARKERS[seen.get(point.method, 0) % len(MARKERS)]
        seen[point.method] = seen.get(point.method, 0) + 1
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
    ax.set_xlabel(chart.x_label + (", log scale" if chart.log_x else ""))
    ax.set_ylabel(chart.y_label)
    ax.set_title(f"{chart.title}\n{heading} (mean ± {CONFIDENCE:.0%} CI over seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.14), ncol=2, frameon=False)  # below: never over a point
    _format_axes(ax, chart.log_x)
    return fig


def draw_chart(chart: Chart, heading: str, path: Path, colours: MethodColours) -> None:
    """``chart`` (:func:`chart_figure`) as a PNG at ``path``."""
    import matplotlib.pyplot as plt

    fig = chart_figure(chart, heading, colours)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def chart_file(preset: str, task_settings: str, chart: Chart) -> str:
    """A file name for a section's chart that stays the same from build to build."""
    return slug(f"{preset}-{task_settings or 'default'}-{chart.kind.name}") + ".png"
