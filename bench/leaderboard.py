"""Records → pandas → markdown leaderboards and plots.

One file per task (``<task>.md``) with a section per preset and task setting, a table per
evaluation, one row per method + its settings + hardware (with its CPU thread count), cells the mean over seeds ± the
half-width of its 95% confidence interval (t distribution: :func:`ucdbench.stats.mean_ci`) with
the seed count. Where a section has reference rows (runs of methods that declare
``reference_row``, carried in their records), a table gives every row's paired difference from
them on the task's primary metric, seed by seed, with the paired t-test's p-value
(:func:`ucdbench.stats.paired_comparison`). A table ranked by a timing figure ranks rows whose timings
do not differ significantly alike (:func:`ucdbench.stats.tied_ranks`: 1, 1, 3). A paper's figure stands beside the
reproduced one, in whichever evaluation's table reports it, for the runs in the setting the paper quotes (each record
carries only the figures whose setting it matches). The header names the project commit the
records were produced with. Each section opens with its charts (:func:`ucdbench.charts.section_charts`,
drawn under ``<task>-plots/``): one per chart axis the records' figures declare
(``ucdbench.api.ChartAxis``), of that section's rows alone, with their Pareto frontier. Nothing
here names a method, an evaluation or a figure: what a leaderboard shows comes from what the
records declare. Images evaluations attached to runs (``EvaluationContext.attach``) follow the tables,
those of each row's lowest seed, copied beside the page under ``<task>-images/``. The same
:class:`TaskBoard` feeds the HTML site (:mod:`ucdbench.site`). ``README.md`` indexes
the tasks, and judges the claims of experiment files given to it. Only successful runs count;
failed ones are listed as failed.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ucdbench.charts import Chart, MethodColours, chart_file, draw_chart, section_charts
from ucdbench.formatting import format_number, format_p, signed_difference
from ucdbench.interfaces import FigureKind
from ucdbench.records import hardware_label, method_settings, task_settings
from ucdbench.stats import CONFIDENCE, SIGNIFICANCE, mean_ci, paired_comparison, tied_ranks

if TYPE_CHECKING:
    from ucdbench.experiments import Claim
    from ucdbench.views import View

def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list, tuple)) else str(value)


def _identity(settings: dict[str, Any]) -> str:
    return json.dumps(settings, sort_keys=True, default=str)


def _differing(configs: Sequence[dict[str, Any]]) -> list[str]:
    """The keys whose values are not the same in every one of ``configs`` (a key some lack included)."""
    keys = sorted(set().union(*configs)) if configs else []
    return [k for k in keys if len({_identity(c.get(k)) for c in configs}) > 1]


def _label(config: dict[str, Any], keys: Sequence[str], prefix: str = "") -> str:
    return ", ".join(f"{prefix}{k}={_text(config[k])}" for k in keys if k in config)


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
            "_task_identity": _identity(task_settings(r)),
            "_identity": _identity(method_settings(r)),
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
        sections = {identity: task_settings(by_key[runs.key.iloc[0]])
                    for identity, runs in task_runs.groupby("_task_identity", sort=False)}
        differing = _differing(list(sections.values()))
        for identity, config in sections.items():
            here = task_runs.index[task_runs._task_identity == identity]
            frame.loc[here, "task_settings"] = _label(config, differing)
            frame.loc[here, "task_config"] = _label(config, sorted(config)) or "default"
    for _, method_runs in frame.groupby(["task", "preset", "_task_identity", "method"], sort=False, dropna=False):
        configs = {identity: method_settings(by_key[runs.key.iloc[0]])
                   for identity, runs in method_runs.groupby("_identity", sort=False)}
        differing = _differing(list(configs.values()))
        for identity, config in configs.items():
            frame.loc[method_runs.index[method_runs._identity == identity], "settings"] = _label(config, differing)
    return frame


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
    note: str = ""
    """What a reader must know to read the table (how its ranks were given), shown below it."""

    def markdown(self) -> str:
        texts = [[text for text, _ in row.cells] for row in self.rows]
        return pd.DataFrame(texts, columns=[c.header for c in self.columns]).to_markdown(index=False)


def _cell(values: pd.Series, seeds: int, interval: bool = True) -> tuple[str, float | None]:
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


def _figures_of(records: list[dict[str, Any]], evaluation: str) -> list[dict[str, Any]]:
    """The figures ``evaluation`` declared in these records (name, direction, unit), in order."""
    declared: dict[str, dict[str, Any]] = {}
    for r in records:
        for figure in r.get("figures", {}).get(evaluation, []):
            declared.setdefault(figure["name"], figure)
    return list(declared.values())


def _header(figure: dict[str, Any]) -> str:
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


def code_cell(runs: Sequence[dict[str, Any]]) -> tuple[str, None]:
    """Which project commit and which code fingerprint (the run key's ``code``) a row's runs come from."""
    pairs = dict.fromkeys(f"{((r.get('environment') or {}).get('git_commit') or 'unknown')[:10]} · {r.get('code', '?')}"
                          for r in runs)
    return "; ".join(pairs), None


def clean_control_cell(runs: Sequence[dict[str, Any]], group: pd.DataFrame,
                       records: dict[str, dict[str, Any]]) -> tuple[str, None] | None:
    """For an attack's row (:class:`ucdbench.api.ControlRow` in its records): the section's row
    of the model it attacks, whose figures are its clean control; None for other rows."""
    control = runs[0].get("clean_control")
    if not control:
        return None
    for (method, settings, _), candidates in group.groupby(["method", "settings", "hardware"], sort=True):
        resolved = method_settings(records[candidates.key.iloc[0]])
        if method == control["method"] and all(_identity(resolved.get(k)) == _identity(v)
                                               for k, v in control["settings"].items()):
            return f"→ {_row_label(method, settings)}", None
    return f"{control['method']} (not run in this section)", None


def _table(group: pd.DataFrame, records: dict[str, dict[str, Any]], evaluation: str,
           figures: list[dict[str, Any]]) -> Table:
    """One row per method + settings + hardware, sorted best first by the first figure that
    has a direction; headers carry the unit and ↑ (higher is better) or ↓; each paper figure
    stands right beside the reproduced one; an attack's row names its clean control's; each
    row names the commit and code fingerprint of its runs."""
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
            cells[figure["name"]] = (_cell(runs[column], len(runs), not figure.get("interval_of"))
                                     if column in runs else ("–", None))
            paper = reported_figures(run_records, evaluation, figure["name"])
            if paper:
                cells[f"{figure['name']} (paper)"] = _paper_cell(paper)
        control = clean_control_cell(run_records, group, records)
        if control:
            cells["clean control"] = control
        cells["hardware"] = (hardware, None)
        cells["code"] = code_cell(run_records)
        sort_value = float(runs[sort_by].mean()) if sort_by in runs else None
        rows.append((_best_first(sort_value, ranked["higher_is_better"] if ranked else None), cells, run_records))
    rows.sort(key=lambda row: row[0])
    note = _rank_by_timing(rows, group, sort_by, ranked) if ranked else ""
    header = [Column("rank")] if note else []
    header += [Column("method"), Column("seeds")]
    for figure in figures:
        header.append(Column(_header(figure), figure.get("higher_is_better")))
        paper = f"{figure['name']} (paper)"
        if any(paper in cells for _, cells, _ in rows):
            header.append(Column(paper, figure.get("higher_is_better")))
    controls = ["clean control"] if any("clean control" in cells for _, cells, _ in rows) else []
    header += [*map(Column, controls), Column("hardware"), Column("code (commit · fingerprint)")]
    keys = ["rank"] * bool(note) + ["method", "seeds"]
    keys += [k for f in figures for k in (f["name"], f"{f['name']} (paper)")
             if k == f["name"] or any(k in cells for _, cells, _ in rows)] + [*controls, "hardware", "code"]
    return Table(tuple(header), tuple(Row(tuple(cells.get(k, ("–", None)) for k in keys), run_records)
                                      for _, cells, run_records in rows), note)


TIMING_NOTE = ("Ranked by {figure}, a timing: `rank` gives rows whose timings do not differ significantly the same rank "
               "(two-sided Welch's t-test on the rows' per-seed values, p < {alpha}; a row of one run is told apart "
               "from none). Timings were measured holding the machine lock (`ucdbench.machine_lock`) exclusively: no "
               "other ucdbench work (preparing a task, fitting, measuring) on that machine that shares its lock folder "
               "(`$UCDBENCH_LOCK_DIR`, default the system's temporary folder), under any executor, ran meanwhile; "
               "processes other than ucdbench were not held off. The `hardware` column gives the machine and its "
               "thread count.")


def _rank_by_timing(rows: list[tuple[Any, dict[str, tuple[str, float | None]], tuple[dict[str, Any], ...]]],
                    group: pd.DataFrame, column: str | None, figure: dict[str, Any]) -> str:
    """Where ``rows`` (best first) are ranked by a timing figure, put each row's rank in its
    cells (:func:`ucdbench.stats.tied_ranks`, ties where timings do not differ significantly) and
    return the note that says so; otherwise leave them and return ""."""
    if FigureKind.of(figure) is not FigureKind.TIMING or column not in group:
        return ""
    values = [group.loc[group.key.isin([r["key"] for r in runs]), column].dropna().tolist() for _, _, runs in rows]
    measured = [i for i, v in enumerate(values) if v]
    ranks = tied_ranks([values[i] for i in measured], bool(figure["higher_is_better"]))
    for i, rank in zip(measured, ranks):
        rows[i][1]["rank"] = (str(rank), float(rank))
    return TIMING_NOTE.format(figure=f"`{figure['name']}`", alpha=SIGNIFICANCE)


def _difference_cell(values: dict[int, float], reference: dict[int, float],
                     higher_is_better: bool | None) -> tuple[str, float | None]:
    """Mean paired difference (row − reference) with its p-value and the seeds it pairs, and
    the difference to sort by."""
    comparison = paired_comparison(values, reference, higher_is_better)
    if comparison.mean_difference is None:
        return "– (no shared seed)", None
    details = ["n = 1"] if comparison.p_value is None else [format_p(comparison.p_value), f"n = {comparison.n}"]
    return signed_difference(comparison.mean_difference, comparison.improvement, *details), comparison.mean_difference


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


def _figure_setting(figure: dict[str, Any]) -> str:
    """A reported figure's setting in full: its words and every setting it is pinned to."""
    pinned = ", ".join(f"{name}={value}" for name, value in (figure.get("where") or {}).items())
    return f"{figure['setting']} (where {pinned})" if pinned else figure["setting"]


def _figure_key(method: str, figure: dict[str, Any]) -> tuple:
    return (method, figure["task"], figure["metric"], figure["value"], _figure_setting(figure), figure["source"])


def _figures_elsewhere(records: list[dict[str, Any]]) -> Table | None:
    """A table of the figures the methods' papers report for settings none of ``records`` is in,
    each once with its setting spelled out, and once per method whose paper's figures could not
    be reached, the reason (``reported_unavailable``)."""
    shown = {_figure_key(r["method"]["name"], f) for r in records for f in r.get("reported", [])}
    rows: dict[tuple, Row] = {}
    for r in records:
        method = r["method"]["name"]
        for f in r.get("reported_elsewhere", []):
            key = _figure_key(method, f)
            if key not in shown and key not in rows:
                value = float(f["value"]) if isinstance(f["value"], (int, float)) else None
                rows[key] = Row(((method, None), (f["task"], None), (f["metric"], None), (str(f["value"]), value),
                                 (key[4], None), (f["source"], None)))
        unavailable = r.get("reported_unavailable")
        if unavailable and (method, "unavailable") not in rows:
            rows[method, "unavailable"] = Row(((method, None), ("–", None), ("–", None),
                                               ("no published figure reachable", None), (unavailable, None),
                                               ("–", None)))
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
        """The preset and the task settings that tell this section from the task's others."""
        return f"preset `{self.preset}`" + (f", {self.task_settings}" if self.task_settings else "")

    @property
    def settings_line(self) -> str:
        """Every task setting of the section, defaults filled in."""
        return f"Task settings (resolved): {self.group.task_config.iloc[0]}."


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
    units: dict[str, str] = field(default_factory=dict)

    @property
    def primary_header(self) -> str:
        """The primary metric as table headers name figures: ``top1 (%) ↑``."""
        return _header({"name": self.primary, "unit": self.units.get(self.primary or ""),
                        "higher_is_better": self.higher_is_better.get(self.primary or "")})

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
                "better, ↓ lower is better, and each table lists the best first by its first such figure. Sections "
                "and rows are told apart by the settings they ran with, defaults filled in, naming only those that "
                "differ; each row names the commit and code fingerprint of its runs. "
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
    return TaskBoard(task, frame, by_key, primary, higher, sections, _figures_elsewhere(ok_records),
                     {m["name"]: m.get("unit", "") for m in metric_info})


REFERENCES_NOTE = ("Each row's mean difference in {primary} from the reference rows ({references}: methods that declare "
                   "themselves references; row − reference, and whether that is better or worse) over the seeds both "
                   "have, paired seed by seed, with the two-sided paired t-test's p-value and the number of pairs; "
                   "references are taken on the same hardware.")
ALL_FIGURES = "<details><summary>All figures: every evaluation's table, section by section</summary>"
"""Opens the collapsed block the sections go into behind a page's views (GitHub renders the
markdown inside, blank lines around it)."""
ELSEWHERE_NOTE = ("What the papers report for the methods above in settings no row here is in (another dataset, "
                  "model or scale): for orientation, not to compare cell by cell. Each figure appears once, with "
                  "the settings it is pinned to; a method whose paper's tables could not be reached says so.")


def task_markdown(board: TaskBoard, results: Path | None = None, out: Path | None = None,
                  colours: MethodColours | None = None, views: Sequence[View] = ()) -> str:
    """The markdown page of ``board``; with ``out``, its charts are drawn into ``out/<task>-plots/``
    (each method in its ``colours``, default those of the board's own methods) and (with ``results``)
    attached images copied into ``out/<task>-images/``. With ``views`` (:mod:`ucdbench.views`), the
    page leads with them and every section follows, collapsed."""
    task = board.task
    colours = colours or MethodColours.of_records(board.records.values())
    lines = [f"# {task}", "", board.summary("leaderboard"), ""]
    if views:
        from ucdbench.views import views_markdown

        lines += [*views_markdown(views, [board.records[key] for key in board.ok.key]), ALL_FIGURES, ""]
    for section in board.sections:
        lines += [f"## {section.heading}", "", section.settings_line, ""]
        if out is not None:
            for chart in section.charts:
                name = f"{task}-plots/{chart_file(section.preset, section.task_settings, chart)}"
                (out / name).parent.mkdir(parents=True, exist_ok=True)
                draw_chart(chart, f"{task} · {section.preset} · {section.task_settings}", out / name, colours)
                lines += [f"![{chart.title}]({name})", ""]
        for evaluation, table in section.tables:
            lines += [f"### {evaluation}", "", table.markdown(), "", *([table.note, ""] if table.note else [])]
        if section.references:
            lines += [f"### {board.primary_header} against the references", "",
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
                       claims: Sequence[Claim] = (), views: Sequence[View] = (),
                       audit: tuple[int, Path, Sequence[Path]] | None = None) -> list[Path]:
    """Write ``<task>.md`` (+ ``<task>-plots/``, + ``<task>-images/``) per task and ``README.md``;
    returns the paths. ``results`` is the folder the records came from, whose attached images
    the pages show (None: no images); ``claims`` (from experiment files) are judged in the index;
    ``views`` (from experiment files) lead their tasks' pages; ``audit`` (the record count, the
    output folder and the experiment files as the command line named them) adds the section that
    says how to rebuild the pages from the records kept beside them (:mod:`ucdbench.audit`)."""
    if not any(r.get("status") == "ok" for r in records):
        return []
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    index = ["# ucdbench leaderboards", "",
             f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `ucdbench leaderboard` "
             f"from {len(records)} run records.", "", "| task | successful runs | methods | presets |", "|---|---|---|---|"]
    colours = MethodColours.of_records(records)  # one colour per method on every page
    for board in task_boards(records):
        task, ok = board.task, board.ok
        for folder in (f"{task}-plots", f"{task}-images"):  # what an earlier build drew or copied
            shutil.rmtree(out / folder, ignore_errors=True)
        (out / f"{task}.png").unlink(missing_ok=True)  # the one chart per task of earlier versions
        path = out / f"{task}.md"
        path.write_text(task_markdown(board, results, out, colours, [v for v in views if v.task == task]) + "\n")
        written += [path, *sorted((out / f"{task}-plots").glob("*.png"))]
        index.append(f"| [{task}]({task}.md) | {len(ok)} | {', '.join(sorted(ok.method.unique()))} | "
                     f"{', '.join(sorted(ok.preset.dropna().unique()))} |")
    index += _other_pages(out, written)
    if claims:
        from ucdbench.experiments import claims_markdown, judge_claims

        index += ["", "## Claims", "", CLAIMS_NOTE, "", claims_markdown(list(claims), judge_claims(list(claims), records))]
    if audit:
        from ucdbench.audit import audit_lines

        index += audit_lines(*audit)
    readme = out / "README.md"
    readme.write_text("\n".join(index) + "\n")
    return [readme, *written]


def _other_pages(out: Path, written: Sequence[Path]) -> list[str]:
    """Index lines linking the markdown pages beside the index that this build did not write
    (a benchmark script's page, a task page of an earlier build), each by its first heading."""
    others = sorted(p for p in out.glob("*.md") if p.name != "README.md" and p not in written)
    others += sorted(out.glob("*/README.md"))  # the index of another set of pages, built from its own records

    def title(page: Path) -> str:
        if page.name == "README.md":
            return f"{page.parent.name}/: its own pages and claims"
        heading = next((line for line in page.read_text().splitlines() if line.startswith("# ")), "")
        return heading.removeprefix("# ").strip() or page.stem

    if not others:
        return []
    return ["", "## Other pages", "", "Pages in this folder that were not built from these run records (a benchmark "
            "script's page, the pages of another study in a folder of their own, or a task page of an earlier "
            "build); each says what produced it.", "",
            *(f"- [{title(page)}]({page.relative_to(out).as_posix()})" for page in others)]


CLAIMS_NOTE = ("Each claim compares two rows seed by seed (paired t-test, p < 0.05) on every figure it names, one line "
               "per figure: **holds** when the first is significantly better on the figure, **does not hold** when "
               "it is significantly worse. A difference is the first row's mean minus the second's, with which way "
               "is better by the figure's direction.")
