"""Records → pandas → markdown leaderboards and plots.

One file per task (``<task>.md``) with a section per preset and task setting, a table per
evaluation, one row per method + its settings + hardware (with its CPU thread count), cells the mean over seeds ± the
half-width of its 95% confidence interval (t distribution: :func:`ucdbench.core.stats.mean_ci`) with
the seed count. Where a section has reference rows (runs of methods that declare
``reference_row``, carried in their records), a table gives every row's paired difference from
them on the task's primary metric, seed by seed, with the paired t-test's p-value
(:func:`ucdbench.core.stats.paired_comparison`). A table ranked by a timing figure ranks rows whose timings
do not differ significantly alike (:func:`ucdbench.core.stats.tied_ranks`: 1, 1, 3). A paper's figure stands beside the
reproduced one, in whichever evaluation's table reports it, for the runs in the setting the paper quotes (each record
carries only the figures whose setting it matches). The header names the project commit the
records were produced with. Each section opens with its charts (:func:`ucdbench.reporting.charts.section_charts`,
drawn under ``<task>-plots/``): one per chart axis the records' figures declare
(``ucdbench.api.ChartAxis``), of that section's rows alone, with their Pareto frontier. Nothing
here names a method, an evaluation or a figure: what a leaderboard shows comes from what the
records declare. Images evaluations attached to runs (``EvaluationContext.attach``) follow the tables,
those of each row's lowest seed, copied beside the page under ``<task>-images/``. The same
:class:`TaskBoard` feeds the HTML site (:mod:`ucdbench.reporting.site`). ``README.md`` indexes
the tasks, and judges the claims of experiment files given to it. Only successful runs count;
failed ones are listed as failed.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ucdbench.reporting.charts import Chart, MethodColours, chart_file, draw_chart, section_charts
from ucdbench.reporting.contention import timing_conditions
from ucdbench.core.formatting import format_p, signed_difference
from ucdbench.contracts.interfaces import FigureKind
from ucdbench.reporting.records import method_settings
from ucdbench.reporting.tables import (
    Column, Row, Table, best_first, cell, code_cell, column_of, figures_of, figure_header, identity, paper_cell,
    records_frame, reported_figures, row_label, runs_of,
)
from ucdbench.core.stats import CONFIDENCE, SIGNIFICANCE, paired_comparison, tied_ranks

if TYPE_CHECKING:
    from ucdbench.reporting.claims import Claim
    from ucdbench.reporting.views import View

def clean_control_cell(runs: Sequence[dict[str, Any]], group: pd.DataFrame,
                       records: dict[str, dict[str, Any]]) -> tuple[str, None] | None:
    """For an attack's row (:class:`ucdbench.api.ControlRow` in its records): the section's row
    of the model it attacks, whose figures are its clean control; None for other rows."""
    control = runs[0].get("clean_control")
    if not control:
        return None
    for (method, settings, _), candidates in group.groupby(["method", "settings", "hardware"], sort=True):
        resolved = method_settings(records[candidates.key.iloc[0]])
        if method == control["method"] and all(identity(resolved.get(k)) == identity(v)
                                               for k, v in control["settings"].items()):
            return f"→ {row_label(method, settings)}", None
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
        run_records = runs_of(runs, records)
        cells = {"method": (row_label(method, settings), None), "seeds": (str(len(runs)), float(len(runs)))}
        for column, figure in zip(columns, figures):
            cells[figure["name"]] = (cell(runs[column], len(runs), not figure.get("interval_of"))
                                     if column in runs else ("–", None))
            paper = reported_figures(run_records, evaluation, figure["name"])
            if paper:
                cells[f"{figure['name']} (paper)"] = paper_cell(paper)
        control = clean_control_cell(run_records, group, records)
        if control:
            cells["clean control"] = control
        cells["hardware"] = (hardware, None)
        cells["code"] = code_cell(run_records)
        sort_value = float(runs[sort_by].mean()) if sort_by in runs else None
        rows.append((best_first(sort_value, ranked["higher_is_better"] if ranked else None), cells, run_records))
    rows.sort(key=lambda row: (row[0], row[1]["method"][0]))  # ties by label: the same page from any folder
    ranks = _rank_by_timing(rows, group, sort_by, ranked) if ranked else ""
    timings = any(FigureKind.of(f) is FigureKind.TIMING for f in figures)
    conditions = timing_conditions([(cells["method"][0], runs) for _, cells, runs in rows], [evaluation]) if timings else ""
    table_columns = [Column("rank")] if ranks else []
    table_columns += [Column("method"), Column("seeds")]
    for figure in figures:
        table_columns.append(Column(figure_header(figure), figure.get("higher_is_better")))
        paper = f"{figure['name']} (paper)"
        if any(paper in cells for _, cells, _ in rows):
            table_columns.append(Column(paper, figure.get("higher_is_better")))
    controls = ["clean control"] if any("clean control" in cells for _, cells, _ in rows) else []
    table_columns += [*map(Column, controls), Column("hardware"), Column("code (commit · fingerprint)")]
    keys = ["rank"] * bool(ranks) + ["method", "seeds"]
    keys += [k for f in figures for k in (f["name"], f"{f['name']} (paper)")
             if k == f["name"] or any(k in cells for _, cells, _ in rows)] + [*controls, "hardware", "code"]
    return Table(tuple(table_columns), tuple(Row(tuple(cells.get(k, ("–", None)) for k in keys), run_records)
                                      for _, cells, run_records in rows), " ".join(filter(None, (ranks, conditions))))


TIMING_NOTE = ("Ranked by {figure}, a timing: `rank` gives rows whose timings do not differ significantly the same rank "
               "(two-sided Welch's t-test on the rows' per-seed values, p < {alpha}; a row of one run is told apart "
               "from none). Timings were measured holding the machine lock (`ucdbench.running.machine_lock`) exclusively: no "
               "other ucdbench work (preparing a task, fitting, measuring) on that machine that shares its lock folder "
               "(`$UCDBENCH_LOCK_DIR`, default the system's temporary folder), under any executor, ran meanwhile; "
               "processes other than ucdbench were not held off (the CPU share below says whether one took the timed cores). The `hardware` column gives the machine and its "
               "thread count.")


def _rank_by_timing(rows: list[tuple[Any, dict[str, tuple[str, float | None]], tuple[dict[str, Any], ...]]],
                    group: pd.DataFrame, column: str | None, figure: dict[str, Any]) -> str:
    """Where ``rows`` (best first) are ranked by a timing figure, put each row's rank in its
    cells (:func:`ucdbench.core.stats.tied_ranks`, ties where timings do not differ significantly) and
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
    column = column_of(group, primary)
    if column is None:
        return None
    rows: dict[tuple[str, str, str], dict[int, float]] = {}
    records_of: dict[tuple[str, str, str], tuple[dict[str, Any], ...]] = {}
    for (method, settings, hardware), runs in group.groupby(["method", "settings", "hardware"], sort=False):
        values = runs.dropna(subset=[column])
        if not values.empty:
            rows[method, settings, hardware] = dict(zip(values.seed.astype(int), values[column]))
            records_of[method, settings, hardware] = runs_of(values, records)
    references = sorted({(m, s) for (m, s, _), runs in records_of.items() if is_reference(runs[0])})
    if not references:
        return None
    ordered = sorted(rows, key=lambda row: statistics.fmean(rows[row].values()),
                     reverse=higher_is_better is not False)
    headers = [f"vs {ref_method}" + (f" ({ref_settings})" if ref_settings else "")
               for ref_method, ref_settings in references]
    table = []
    for method, settings, hardware in ordered:
        cells: list[tuple[str, float | None]] = [(row_label(method, settings), None)]
        for ref_method, ref_settings in references:
            reference = rows.get((ref_method, ref_settings, hardware))
            if (method, settings) == (ref_method, ref_settings):
                cells.append(("(reference)", 0.0))
            elif reference is None:
                cells.append(("– (not on this hardware)", None))
            else:
                cells.append(_difference_cell(rows[method, settings, hardware], reference, higher_is_better))
        cells.append((hardware, None))
        table.append(Row(tuple(cells), records_of[method, settings, hardware]))
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
        return figure_header({"name": self.primary, "unit": self.units.get(self.primary or ""),
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
            figures = [f for f in figures_of(ok_records, evaluation)
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
    attached images copied into ``out/<task>-images/``. With ``views`` (:mod:`ucdbench.reporting.views`), the
    page leads with them and every section follows, collapsed."""
    task = board.task
    colours = colours or MethodColours.of_records(board.records.values())
    lines = [f"# {task}", "", board.summary("leaderboard"), ""]
    if views:
        from ucdbench.reporting.views import views_markdown

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
    """One board per task of ``records``, in name order; the records are read in key order, so a
    page does not depend on the order a folder lists its files in."""
    records = sorted(records, key=lambda r: r["key"])
    frame = records_frame(records)
    return [task_board(task, [r for r in records if r["task"]["name"] == task], task_frame)
            for task, task_frame in frame.groupby("task", sort=True)]


def write_leaderboards(records: list[dict[str, Any]], out: Path, results: Path | None = None,
                       claims: Sequence[Claim] = (), views: Sequence[View] = (),
                       kept_with: Sequence[Path] | None = None) -> list[Path]:
    """Write ``<task>.md`` (+ ``<task>-plots/``, + ``<task>-images/``) per task and ``README.md``;
    returns the paths. ``results`` is the folder the records came from, whose attached images
    the pages show (None: no images); ``claims`` (from experiment files) are judged in the index;
    ``views`` (from experiment files) lead their tasks' pages; ``kept_with`` (the experiment files
    as the command line named them), where the records are kept beside the pages, adds the section
    that says how to rebuild the pages from them (:mod:`ucdbench.reporting.audit`)."""
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
        from ucdbench.reporting.claims import claims_markdown, judge_claims

        index += ["", "## Claims", "", CLAIMS_NOTE, "", claims_markdown(list(claims), judge_claims(list(claims), records))]
    if kept_with is not None:
        from ucdbench.reporting.audit import audit_lines

        index += audit_lines(len(records), out, kept_with)
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
