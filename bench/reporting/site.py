"""``ucdbench publish``: the results as a static HTML site, for people who read results in a browser.

The site is files only — no server, no network, no JavaScript framework — so it opens from
``file://`` as well as from GitHub Pages::

    index.html              tasks, methods, claims of experiment files, the nightly history
    <task>.html             per section: charts, sortable tables (mean ± CI, the paper's figure
                            beside ours, hardware and code version of every row, each run's
                            record a click away), comparisons with the references, attached images
    compare.html            a ``ucdbench compare`` report, when given
    records/<key>.json      every run's record, as the results folder has it
    plots/<task>/*.png      the charts (the same as the markdown leaderboards')
    images/<task>/*         images evaluations attached to runs

The tables, charts and statistics are the markdown leaderboards' own
(:func:`ucdbench.reporting.leaderboard.task_boards`); this module only lays them out.

**History.** A JSON Lines file (``--history FILE``), one line per published results folder
(appended by ``--append-history``; the nightly job does it each night): when, the code's
commit, and every row's primary metric as mean, CI half-width and seed count. Task pages show
each section's rows across the entries, as a table and a chart.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ucdbench.contracts.interfaces import UcdbenchError

if TYPE_CHECKING:
    from ucdbench.reporting.charts import MethodColours
    from ucdbench.reporting.claims import Claim
    from ucdbench.reporting.leaderboard import Section, TaskBoard
    from ucdbench.reporting.views import View

MARKER = ".ucdbench-site"
"""A file in every site folder: ``publish`` replaces only folders that have it (or are empty)."""
HISTORY_SHOWN = 30
"""Entries of the history a task page shows, the latest."""


# ---------------------------------------------------------------------------------------- history


def history_entry(records: list[dict[str, Any]], when: datetime | None = None) -> dict[str, Any]:
    """One line of the history file: every row's primary metric (mean ± CI over seeds), the
    commit(s) and how many runs succeeded or failed; ``id`` identifies the records it summarises."""
    from ucdbench.reporting.tables import records_frame
    from ucdbench.core.stats import mean_ci

    frame = records_frame(records)
    ok = frame[frame.status == "ok"]
    rows = []
    for (task, preset, task_settings, method, settings, hardware), runs in ok.groupby(
            ["task", "preset", "task_settings", "method", "settings", "hardware"], sort=True):
        primary = runs.primary.dropna().iloc[0] if runs.primary.notna().any() else None
        column = next((c for c in runs.columns if c.partition("/")[2] == primary and not c.startswith("method/")), None)
        values = runs[column].dropna().tolist() if column else []
        if not values:
            continue
        ci = mean_ci(values)
        rows.append({"task": task, "preset": preset, "task_settings": task_settings, "method": method,
                     "settings": settings, "hardware": hardware, "figure": primary, "mean": ci.mean,
                     "half_width": ci.half_width, "n": ci.n})
    commits = sorted({(r.get("environment") or {}).get("git_commit") or "unknown" for r in records})
    identity = hashlib.sha256(json.dumps(sorted((r["key"], r["status"]) for r in records)).encode()).hexdigest()[:16]
    return {"date": (when or datetime.now(timezone.utc)).isoformat(timespec="seconds"), "id": identity,
            "commits": commits, "ok": int(len(ok)), "failed": int(len(frame) - len(ok)), "rows": rows}


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


def append_history(path: Path, records: list[dict[str, Any]]) -> bool:
    """Append the summary of ``records`` to the history file, unless its last entry summarises
    the same records (publishing a folder twice adds one entry); True when appended."""
    entry = history_entry(records)
    entries = read_history(path)
    if entries and entries[-1].get("id") == entry["id"]:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        file.write(json.dumps(entry, sort_keys=True) + "\n")
    return True


@dataclass(frozen=True)
class HistoryTable:
    """One section's rows across history entries: ``cells[row][i]`` is the text for ``dates[i]``."""

    figure: str
    dates: list[str]
    cells: dict[str, list[str]]
    chart: str | None


def _history_tables(board: TaskBoard, history: Sequence[dict[str, Any]], out: Path,
                    colours: MethodColours) -> dict[tuple[str, str], HistoryTable]:
    """Per section of the task (preset, task settings) that the history has: its rows' primary
    metric over the entries, and a chart of it (each method in its colour) when there are two
    entries or more."""
    from ucdbench.core.formatting import format_number

    shown = list(history)[-HISTORY_SHOWN:]
    sections: dict[tuple[str, str], dict[str, dict[int, dict[str, Any]]]] = {}
    for i, entry in enumerate(shown):
        for row in entry["rows"]:
            if row["task"] == board.task:
                label = row["method"] + (f" ({row['settings']})" if row["settings"] else "") + f" [{row['hardware']}]"
                sections.setdefault((row["preset"], row["task_settings"]), {}).setdefault(label, {})[i] = row
    dates = [entry["date"][:10] for entry in shown]
    tables = {}
    for (preset, task_settings), rows in sections.items():
        cells = {label: [_history_cell(values.get(i), format_number) for i in range(len(shown))]
                 for label, values in sorted(rows.items())}
        chart = None
        if sum(any(i in values for values in rows.values()) for i in range(len(shown))) > 1:
            chart = f"plots/{board.task}/history-{_slug(preset + '-' + (task_settings or 'default'))}.png"
            _draw_history(rows, dates, f"{board.task} · {preset} · {task_settings}", board.primary or "", out / chart,
                          colours)
        figure = next(row["figure"] for values in rows.values() for row in values.values())
        tables[preset, task_settings] = HistoryTable(figure, dates, cells, chart)
    return tables


def _history_cell(row: dict[str, Any] | None, format_number: Any) -> str:
    if row is None:
        return "–"
    text = format_number(row["mean"])
    return text + (f" ± {format_number(row['half_width'], 2)}" if row.get("half_width") is not None else "")


def _draw_history(rows: dict[str, dict[int, dict[str, Any]]], dates: list[str], heading: str, figure: str,
                  path: Path, colours: MethodColours) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ucdbench.reporting.charts import MARKERS

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7.5, 4))
    seen: dict[str, int] = {}
    for label, values in sorted(rows.items()):
        xs = sorted(values)
        method = values[xs[0]]["method"]
        seen[method] = seen.get(method, -1) + 1
        ax.errorbar(xs, [values[i]["mean"] for i in xs], yerr=[values[i]["half_width"] or 0 for i in xs],
                    marker=MARKERS[seen[method] % len(MARKERS)], color=colours.colour(method), capsize=3, label=label)
    ax.set_xticks(range(len(dates)), dates, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(figure)
    ax.set_title(f"{heading}: {figure} night by night (mean ± 95% CI over seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.25), ncol=2, frameon=False)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


# ------------------------------------------------------------------------------------------- site


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", text).strip("-")


def _inline_markdown(text: str) -> Any:
    """The little markdown leaderboard prose uses (`code`, **bold**), as safe HTML."""
    from markupsafe import Markup, escape

    html = str(escape(text))
    html = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html)
    return Markup(re.sub(r"`(.+?)`", r"<code>\1</code>", html))


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


def _environment() -> Any:
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                                     autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                                     lstrip_blocks=True)
    environment.filters["md"] = _inline_markdown
    environment.globals["code_version"] = _code_version
    return environment


def build_site(records: list[dict[str, Any]], out: Path, results: Path | None = None, claims: Sequence[Claim] = (),
               history: Sequence[dict[str, Any]] = (), compare_report: Path | None = None,
               views: Sequence[View] = ()) -> list[Path]:
    """Write the site into ``out`` (replacing an earlier one) and return its HTML pages, index
    first. ``results`` is the folder the records came from: their JSON files and attached images
    are copied from it (None: records are written from memory, no images). ``views`` lead their
    tasks' pages (:mod:`ucdbench.reporting.views`)."""
    from ucdbench.reporting.charts import MethodColours
    from ucdbench.reporting.leaderboard import CLAIMS_NOTE, task_boards

    _prepare_out(out)
    _copy_static(out)
    _copy_records(records, out, results)
    colours = MethodColours.of_records(records)  # the markdown leaderboards' colours, on charts and tables
    environment = _environment()
    environment.globals["method_colour"] = colours.colour
    site = _Site(out, results, environment, colours, f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    boards = task_boards(records)
    pages = [_write_task_page(site, board, history, views) for board in boards]
    verdicts = _verdicts(claims, records)
    if compare_report is not None:
        (out / "compare.html").write_text(environment.get_template("compare.html").render(
            report=compare_report.read_text(), source=compare_report.name, generated=site.generated))
    index = out / "index.html"
    index.write_text(environment.get_template("index.html").render(
        boards=boards, methods=_methods(records), claims=verdicts, claims_note=CLAIMS_NOTE,
        history=list(history), compare=compare_report is not None, generated=site.generated, runs=len(records)))
    return [index, *pages]


@dataclass(frozen=True)
class _Site:
    """What every page of one build shares: its folder, the results folder its records' files
    come from (None: none), its templates, its method colours and when it was generated."""

    out: Path
    results: Path | None
    environment: Any
    colours: MethodColours
    generated: str


# ------------------------------------------------- static files (what the reader's browser runs)


def _copy_static(out: Path) -> None:
    """The stylesheet and the script every page links, into ``out/static``: files beside the
    pages, so the site's sorting, filters and permalinks work from ``file://`` with no network."""
    shutil.copytree(Path(__file__).parent / "static", out / "static")


def _copy_records(records: list[dict[str, Any]], out: Path, results: Path | None) -> None:
    """Every record into ``out/records``: its file from the results folder, else written from memory."""
    for record in records:
        source = results / "runs" / f"{record['key']}.json" if results else None
        if source is not None and source.is_file():
            shutil.copyfile(source, out / "records" / f"{record['key']}.json")
        else:
            (out / "records" / f"{record['key']}.json").write_text(json.dumps(record, indent=2, sort_keys=True))


def _write_task_page(site: _Site, board: TaskBoard, history: Sequence[dict[str, Any]],
                     views: Sequence[View]) -> Path:
    """A task's page: the views on the task, then each section with its charts, images and
    history, and the failed runs."""
    from ucdbench.reporting.leaderboard import ELSEWHERE_NOTE
    from ucdbench.reporting.views import view_table

    history_tables = _history_tables(board, history, site.out, site.colours)
    sections = [{"section": section, "id": _slug(f"{section.preset}-{section.task_settings}"),
                 "charts": _draw_charts(site, board, section), "images": _copy_images(site, board, section),
                 "history": history_tables.get((section.preset, section.task_settings))}
                for section in board.sections]
    failed = board.failed.sort_values(["method", "seed"]).to_dict("records")
    page = site.out / f"{board.task}.html"
    ok_records = [board.records[key] for key in board.ok.key]
    led = [(view, view_table(view, ok_records)) for view in views if view.task == board.task]
    page.write_text(site.environment.get_template("task.html").render(
        board=board, views=led, sections=sections, failed=failed, generated=site.generated,
        summary=board.summary("publish"), references_note=board.references_note(), elsewhere_note=ELSEWHERE_NOTE))
    return page


def _draw_charts(site: _Site, board: TaskBoard, section: Section) -> list[dict[str, str]]:
    """A section's charts as PNGs under ``plots/<task>/``: each one's file and title."""
    from ucdbench.reporting.charts import chart_file, draw_chart

    charts = []
    for chart in section.charts:
        name = f"plots/{board.task}/{chart_file(section.preset, section.task_settings, chart)}"
        (site.out / name).parent.mkdir(parents=True, exist_ok=True)
        draw_chart(chart, f"{board.task} · {section.preset} · {section.task_settings}", site.out / name, site.colours)
        charts.append({"file": name, "title": chart.title})
    return charts


def _copy_images(site: _Site, board: TaskBoard, section: Section) -> list[dict[str, Any]]:
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
