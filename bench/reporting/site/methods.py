"""A page per method (``methods/<name>.html``): its paper, venue and official code (or what the
implementation follows where none is public), its family, the figures its paper reports with
their sources, the tasks it ran on here, and the tasks it does not run on and why.

Everything but the last comes from the records (``record["method"]``, ``reported``,
``reported_elsewhere``, ``reported_unavailable``). Why a method does not run on a task is its
``supports(task)`` answer, which only the installed plugin can give: the caller passes the
support matrix of the installed registry (``ucdbench list --matrix``), and a method that is not
installed here says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ucdbench.reporting.site.common import Site

Support = Mapping[str, Mapping[str, "str | None"]]
"""method → task → None where the method runs on the task at its default settings, else why not."""


def _paper_figures(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The figures the method's paper reports, each once: beside runs here (``reported``), in
    settings no run here is in (``reported_elsewhere``)."""
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in records:
        for where, figures in (("beside runs here", record.get("reported") or []),
                               ("in another setting", record.get("reported_elsewhere") or [])):
            for figure in figures:
                key = (figure.get("task"), figure["metric"], str(figure["value"]), figure.get("setting"))
                found.setdefault(key, {**figure, "where_shown": where})
    return sorted(found.values(), key=lambda f: (str(f.get("task")), f["metric"], str(f.get("setting"))))


def _tasks(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tasks the method has runs of here: successful and other runs, and its run pages."""
    tasks: dict[str, dict[str, Any]] = {}
    for record in sorted(records, key=lambda r: (r["task"]["name"], str(r.get("preset")), r.get("seed", 0))):
        entry = tasks.setdefault(record["task"]["name"], {"name": record["task"]["name"], "ok": 0, "other": 0,
                                                          "runs": []})
        entry["ok" if record.get("status") == "ok" else "other"] += 1
        entry["runs"].append(record)
    return list(tasks.values())


def _elsewhere(name: str, ran: set[str], support: Support | None) -> tuple[list[tuple[str, str]], list[str]]:
    """The installed tasks the method does not run on with why, and those it runs on but has no
    runs of here; both empty where the method is not installed here."""
    row = (support or {}).get(name)
    if row is None:
        return [], []
    gaps = [(task, why) for task, why in sorted(row.items()) if why is not None]
    return gaps, [task for task, why in sorted(row.items()) if why is None and task not in ran]


def write_method_pages(site: Site, records: Sequence[dict[str, Any]], task_pages: set[str],
                       support: Support | None) -> list[Path]:
    """Every method of ``records`` its page; ``task_pages``: the tasks the site has a page for."""
    by_method: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_method.setdefault(record["method"]["name"], []).append(record)
    pages = []
    for name, runs in sorted(by_method.items()):
        latest = max(runs, key=lambda r: r.get("finished_at") or r.get("started_at") or "")["method"]
        tasks = _tasks(runs)
        gaps, unrun = _elsewhere(name, {t["name"] for t in tasks}, support)
        unavailable = sorted({r["reported_unavailable"] for r in runs if r.get("reported_unavailable")})
        pages.append(site.render(
            "method.html", f"methods/{name}.html", name=name, method=latest, paper=latest.get("paper"),
            figures=_paper_figures(runs), unavailable=unavailable, tasks=tasks, task_pages=task_pages,
            installed=support is not None and name in support, gaps=gaps, unrun=unrun))
    return pages
