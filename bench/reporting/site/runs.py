"""A page per run (``runs/<key>.html``): everything its record says, laid out for a reader — the
resolved configuration, the environment, the commit and code fingerprint, the training curves
drawn, every evaluation's figures, attachments, the artifact's size and how to rebuild it, the
error of a failed run, the sinks it went to — and a link to the raw record."""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ucdbench.reporting.site.common import Site
from ucdbench.reporting.tables import slug

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")
"""Attachments a run page shows inline; others are linked."""


def rebuild_command(record: Mapping[str, Any]) -> str:
    """The ``ucdbench run`` that fits this run again, from its record: method, task, preset,
    seed, hardware, threads and every ``--set`` override (``--force``: even where the results
    folder already holds it). On the same code it has the same key."""
    words = ["ucdbench", "run", "--method", record["method"]["name"], "--task", record["task"]["name"],
             "--preset", str(record.get("preset")), "--seed", str(record.get("seed", 0))]
    if record.get("hardware_plugin"):
        words += ["--hardware", record["hardware_plugin"]]
    if record.get("threads"):
        words += ["--threads", str(record["threads"])]
    for key, value in sorted((record.get("overrides") or {}).items()):
        words += ["--set", f"{key}={value if isinstance(value, str) else json.dumps(value, separators=(',', ':'))}"]
    return shlex.join([*words, "--force"])


def rebuild_code(record: Mapping[str, Any]) -> str:
    """Python that rebuilds the run's scored model from its artifact file and its record alone
    (:func:`ucdbench.api.rebuild_run`: no training)."""
    return ("import json\nfrom ucdbench.api import rebuild_run\n\n"
            f"record = json.load(open(\"{record['key']}.json\"))  # the raw record, linked above\n"
            "task, model = rebuild_run(record)  # reads record[\"artifact\"]; set it to where the file is\n")


def _artifact(site: Site, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The run's artifact file: its name, kind and size where this machine has it."""
    if not record.get("artifact"):
        return None
    recorded = Path(record["artifact"])
    found = next((path for path in ((site.results / "artifacts" / recorded.name) if site.results else None, recorded)
                  if path is not None and path.is_file()), None)
    return {"path": str(recorded), "kind": record.get("artifact_kind"), "bytes": found.stat().st_size if found else None}


def _figures(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each evaluation with its declared figures and their values, then the figures it reported
    without declaring them (raw samples are left to the raw record)."""
    evaluations = []
    for evaluation, results in (record.get("evaluations") or {}).items():
        declared = {f["name"]: f for f in (record.get("figures") or {}).get(evaluation, [])}
        rows = [{"name": name, "value": _shown(results.get(name)), "unit": figure.get("unit") or "",
                 "better": {True: "↑", False: "↓"}.get(figure.get("higher_is_better"), ""),
                 "kind": figure.get("kind", ""), "description": figure.get("description", "")}
                for name, figure in declared.items() if name in results]
        rows += [{"name": name, "value": _shown(value), "unit": "", "better": "", "kind": "", "description": ""}
                 for name, value in results.items() if name not in declared and not _raw(value)]
        measurement = (record.get("measurements") or {}).get(evaluation, {})
        evaluations.append({"name": evaluation, "rows": rows, "config": (record.get("evaluation_configs") or {})
                            .get(evaluation, {}), "measured": measurement})
    return evaluations


def _raw(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 8


def _shown(value: Any) -> str:
    from ucdbench.core.formatting import format_number

    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)):
        return format_number(value)
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)


def _settings(config: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Settings as ``--set`` spells their values (JSON but for plain strings), by name."""
    return [(key, value if isinstance(value, str) else json.dumps(value, sort_keys=True))
            for key, value in sorted((config or {}).items())]


def _attachments(site: Site, record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The run's attachments copied under ``attachments/<key>/`` (those its results folder has)."""
    found = []
    for attachment in record.get("attachments") or []:
        source = site.results / attachment["file"] if site.results else None
        name = f"attachments/{record['key']}/{slug(attachment['evaluation'])}-{Path(attachment['file']).name}"
        if source is not None and source.is_file():
            (site.out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, site.out / name)
        found.append({"file": name if source is not None and source.is_file() else None,
                      "image": Path(attachment["file"]).suffix.lower() in IMAGE_SUFFIXES,
                      "evaluation": attachment["evaluation"], "caption": attachment.get("caption", "")})
    return found


def _curves(site: Site, record: Mapping[str, Any]) -> str | None:
    """The run's training curves drawn in its method's colour (``plots/runs/<key>-curves.png``)."""
    curves = {name: points for name, points in (record.get("curves") or {}).items() if points}
    if not curves:
        return None
    from ucdbench.reporting.site.run_graph import draw_curves

    name = f"plots/runs/{record['key']}-curves.png"
    draw_curves(curves, f"{record['method']['name']} · {record['task']['name']} · seed {record.get('seed')}",
                site.colours.colour(record["method"]["name"]), site.out / name)
    return name


def write_run_page(site: Site, record: dict[str, Any], task_pages: set[str]) -> Path:
    """The page of one run; ``task_pages``: the tasks the site has a page for, to link."""
    from ucdbench.reporting.records import hardware_label

    return site.render(
        "run.html", f"runs/{record['key']}.html", record=record, hardware=hardware_label(record.get("hardware") or {}),
        task_page=record["task"]["name"] in task_pages, curves=_curves(site, record), evaluations=_figures(record),
        attachments=_attachments(site, record), artifact=_artifact(site, record),
        command=rebuild_command(record), code=rebuild_code(record),
        method_config=_settings(record["method"].get("config")), task_config=_settings(record["task"].get("config")),
        overrides=_settings(record.get("overrides")),
        packages=sorted(((record.get("environment") or {}).get("packages") or {}).items()),
        sinks=sorted((record.get("sinks") or {}).items()),
        method_metrics=[(k, _shown(v)) for k, v in sorted((record.get("method_metrics") or {}).items())],
        durations=[(k, _shown(v)) for k, v in sorted((record.get("durations") or {}).items())])


def write_run_pages(site: Site, records: list[dict[str, Any]], task_pages: set[str]) -> list[Path]:
    """Every record its run page."""
    return [write_run_page(site, record, task_pages) for record in records]
