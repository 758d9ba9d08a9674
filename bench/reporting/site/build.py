"""Building the site: the folder, the records, the index and the task pages, and the other
pages each from its own module (runs, methods, the compare report, downloads, the history)."""

from __future__ import annotations

import shutil
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.reporting.site.common import TEMPLATES, Site, inline_markdown
from ucdbench.reporting.site.downloads import PageTable, page_table, records_jsonl
from ucdbench.reporting.tables import slug

if TYPE_CHECKING:
    from ucdbench.reporting.claims import Claim
    from ucdbench.reporting.leaderboard import Section, TaskBoard
    from ucdbench.reporting.site.methods import Support
    from ucdbench.reporting.tables import Table
    from ucdbench.reporting.views import View

MARKER = ".ucdbench-site"
"""A file in every site folder: ``publish`` replaces only folders that have it (or are empty)."""
STATIC = TEMPLATES.parent / "static"
"""What the reader's browser runs, which every page links: ``site.css`` and ``site.js`` (sorting,
filters, permalinks), copied to ``static/`` beside the pages, so they work from ``file://``."""


def _code_version(runs: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """The commits and code fingerprints of a row's runs (several when its seeds ran on different code)."""
    commits = sorted({(r.get("environment") or {}).get("git_commit") or "unknown" for r in runs})
    return {"commits": commits, "code": sorted({r.get("code") or "unknown" for r in runs})}


def _prepare_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise UcdbenchError(f"{out} is not empty and is not a site `ucdbench publish` wrote (no {MARKER} in it); "
                            "give a new or empty folder, or one publish wrote before (it is replaced)")
    shutil.rmtree(out, ignore_errors=True)
    for folder in ("records", "plots", "images"):
        (out / folder).mkdir(parents=True)
    (out / MARKER).write_text("written by `ucdbench publish`; the folder is replaced by the next publish\n")
    shutil.copytree(STATIC, out / "static")


def _environment() -> Any:
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["md"] = inline_markdown
    environment.globals["code_version"] = _code_version
    return environment


def build_site(records: list[dict[str, Any]], out: Path, results: Path | None = None, claims: Sequence[Claim] = (),
               history: Sequence[dict[str, Any]] = (), compare_report: Mapping[str, Any] | None = None,
               views: Sequence[View] = (), support: Support | None = None) -> list[Path]:
    """Write the site into ``out`` (replacing an earlier one) and return its index and task
    pages, index first (run and method pages are written beside them). ``results`` is the
    folder the records came from: their JSON files, attached images and artifacts' sizes are
    read from it (None: records are written from memory, no images). ``compare_report`` is
    :func:`ucdbench.reporting.compare.report_data`'s (``compare.html``); ``views`` lead their
    tasks' pages (:mod:`ucdbench.reporting.views`); ``support`` is the installed registry's
    support matrix, for the method pages' tasks a method does not run on (None: not known here)."""
    from ucdbench.reporting.charts import MethodColours
    from ucdbench.reporting.leaderboard import task_boards
    from ucdbench.reporting.site.comparison import write_compare_page
    from ucdbench.reporting.site.methods import write_method_pages
    from ucdbench.reporting.site.runs import write_run_pages

    _prepare_out(out)
    _copy_records(records, out, results)
    colours = MethodColours.of_records(records)  # the markdown leaderboards' colours, on charts and tables
    environment = _environment()
    environment.globals["method_colour"] = colours.colour
    site = Site(out, results, environment, colours, f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    boards = task_boards(records)
    pages = [_write_task_page(site, board, history, views) for board in boards]
    task_pages = {board.task for board in boards}
    write_run_pages(site, records, task_pages)
    write_method_pages(site, records, task_pages, support)
    if compare_report is not None:
        write_compare_page(site, compare_report, {r["key"] for r in records})
    index = _write_index(site, records, boards, claims, history, compare_report is not None)
    return [index, *pages]


def _write_index(site: Site, records: list[dict[str, Any]], boards: list[TaskBoard], claims: Sequence[Claim],
                 history: Sequence[dict[str, Any]], compare: bool) -> Path:
    """The index: tasks, methods (each linked to its page), claims and the history's entries."""
    from ucdbench.reporting.leaderboard import CLAIMS_NOTE
    from ucdbench.reporting.site.history import entry_label

    return site.render("index.html", "index.html", boards=boards, methods=_methods(records),
                       claims=_verdicts(claims, records), claims_note=CLAIMS_NOTE,
                       history=[(entry_label(entry), entry) for entry in history], compare=compare, runs=len(records),
                       records_file=records_jsonl(site, "index", records))


def _copy_records(records: list[dict[str, Any]], out: Path, results: Path | None) -> None:
    """Every record into ``out/records``: its file from the results folder, else written from memory."""
    for record in records:
        source = results / "runs" / f"{record['key']}.json" if results else None
        if source is not None and source.is_file():
            shutil.copyfile(source, out / "records" / f"{record['key']}.json")
        else:
            (out / "records" / f"{record['key']}.json").write_text(json.dumps(record, indent=2, sort_keys=True))


def _tables(site: Site, board: TaskBoard, section_id: str, section: Section) -> list[tuple[str, PageTable]]:
    """A section's tables, each with its id and downloads: ``<section>-<evaluation>``."""
    return [(evaluation, page_table(site, board.task, f"{section_id}-{slug(evaluation)}", table))
            for evaluation, table in section.tables]


def _write_task_page(site: Site, board: TaskBoard, history: Sequence[dict[str, Any]],
                     views: Sequence[View]) -> Path:
    """A task's page: the views on the task, then each section with its charts, tables, images
    and history, and the failed runs; every table with its id and downloads."""
    from ucdbench.reporting.leaderboard import ELSEWHERE_NOTE
    from ucdbench.reporting.site.history import history_tables
    from ucdbench.reporting.views import view_table

    histories = history_tables(board.task, history, site.out, site.colours)
    sections = []
    for section in board.sections:
        section_id = slug(f"{section.preset}-{section.task_settings}")
        sections.append({"section": section, "id": section_id, "tables": _tables(site, board, section_id, section),
                         "references": _optional(site, board.task, f"{section_id}-references", section.references),
                         "charts": _draw_charts(site, board, section), "images": _copy_images(site, board, section),
                         "history": histories.get((section.preset, section.task_settings))})
    failed = board.failed.sort_values(["method", "seed"]).to_dict("records")
    ok_records = [board.records[key] for key in board.ok.key]
    led = [(view, page_table(site, board.task, f"view-{i}-table", view_table(view, ok_records)))
           for i, view in enumerate((v for v in views if v.task == board.task), 1)]
    return site.render(
        "task.html", f"{board.task}.html", board=board, views=led, sections=sections, failed=failed,
        elsewhere=_optional(site, board.task, "elsewhere-table", board.elsewhere),
        records_file=records_jsonl(site, board.task, board.records.values()), summary=board.summary("publish"),
        references_note=board.references_note(), elsewhere_note=ELSEWHERE_NOTE)


def _optional(site: Site, page: str, table_id: str, table: Table | None) -> PageTable | None:
    return None if table is None else page_table(site, page, table_id, table)


def _draw_charts(site: Site, board: TaskBoard, section: Section) -> list[dict[str, str]]:
    """A section's charts as PNGs under ``plots/<task>/``: each one's file and title."""
    from ucdbench.reporting.charts import chart_file, draw_chart

    charts = []
    for chart in section.charts:
        name = f"plots/{board.task}/{chart_file(section.preset, section.task_settings, chart)}"
        (site.out / name).parent.mkdir(parents=True, exist_ok=True)
        draw_chart(chart, f"{board.task} · {section.preset} · {section.task_settings}", site.out / name, site.colours)
        charts.append({"file": name, "title": chart.title})
    return charts


def _copy_images(site: Site, board: TaskBoard, section: Section) -> list[dict[str, Any]]:
    """The images a section's runs attached, copied under ``images/<task>/`` (none without a results folder)."""
    from ucdbench.reporting.leaderboard import attachments

    images = []
    for image in attachments(section.group, board.records, site.results) if site.results else []:
        name = f"images/{board.task}/{image.name}"
        (site.out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(image.source, site.out / name)
        images.append({"file": name, "image": image})
    return images


def _verdicts(claims: Sequence[Claim], records: list[dict[str, Any]]) -> list[tuple[Claim, str, list[Any]]]:
    """Each claim's verdicts on ``records``, figure by figure."""
    if not claims:
        return []
    from ucdbench.reporting.claims import judge_claims

    judged = judge_claims(list(claims), records)
    return [(claim, figure, [v for v in judged if v.claim is claim and v.figure == figure])
            for claim in claims for figure in claim.figures]


def _methods(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The methods of the successful runs, by name: their plugin and the tasks they ran on."""
    methods: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("status") == "ok":
            entry = methods.setdefault(record["method"]["name"], {"tasks": set(), "plugin": record["method"]})
            entry["tasks"].add(record["task"]["name"])
    return dict(sorted(methods.items()))
