"""Records → pandas → markdown leaderboards and plots.

One file per task (``<task>.md``) with a section per preset and task setting, a table per
evaluation, one row per method + its settings + hardware, cells ``mean ± std`` over seeds
with the seed count. A paper's figure stands beside the reproduced one, in whichever
evaluation's table reports it, for the runs in the setting the paper quotes (each record
carries only the figures whose setting it matches). The header names the project commit the
records were produced with. A PNG per task plots the primary metric against stored bytes.
Images evaluations attached to runs (``EvaluationContext.attach``) follow the tables, those of
each row's lowest seed, copied beside the page under ``<task>-images/``. ``README.md`` indexes
the tasks. Only successful runs count; failed ones are listed as failed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import shutil

import pandas as pd

def _settings(overrides: dict[str, Any], task: bool) -> str:
    items = {k: v for k, v in overrides.items() if k.startswith("task.") == task}
    return ", ".join(f"{k.removeprefix('task.')}={v}" for k, v in sorted(items.items())) or ("default" if task else "")


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
            "hardware": f"{hardware.get('kind', '?')}: {hardware.get('name', '?')}",
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
    separators (549,572 bytes must not read as 549,600)."""
    if value == round(value) and abs(value) < 1e15:
        return f"{round(value):,}"
    if abs(value) >= 10 ** (digits - 1):
        return f"{round(value):,}"
    return f"{value:.{digits}g}"


def _cell(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "–"
    if not pd.api.types.is_numeric_dtype(values):  # yes/no checks: all runs agree, or how many said yes
        return values.iloc[0] if values.nunique() == 1 else f"{(values == 'yes').sum()}/{len(values)} yes"
    text = format_number(values.mean())
    if len(values) == 1:
        return text
    spread = 0.0 if values.nunique() == 1 else values.std(ddof=1)  # equal runs: ± 0, not rounding noise
    return f"{text} ± {format_number(spread, 2)}"


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


def _paper_figures(runs: list[dict[str, Any]], evaluation: str, figure: str) -> str | None:
    """The paper's figures for ``evaluation``/``figure`` that the runs of one row carry (each
    record holds only the figures whose setting it matches), or None."""
    texts: list[str] = []
    for r in runs:
        for fig in r.get("reported", []):
            if fig["metric"] in (figure, f"{evaluation}/{figure}"):
                text = f"{fig['value']} ({fig['setting']})"
                if text not in texts:
                    texts.append(text)
    return "; ".join(texts) or None


def _table(group: pd.DataFrame, records: dict[str, dict[str, Any]], evaluation: str,
           figures: list[dict[str, Any]]) -> str:
    """One row per method + settings + hardware, sorted best first by the first figure that
    has a direction; headers carry ↑ (higher is better) or ↓."""
    columns = [f"{evaluation}/{f['name']}" for f in figures]
    ranked = next((f for f in figures if f.get("higher_is_better") is not None), None)
    sort_by = f"{evaluation}/{ranked['name']}" if ranked else None
    ascending = not ranked["higher_is_better"] if ranked else True
    keys = ["method", "settings", "hardware"]
    rows = []
    for (method, settings, hardware), runs in group.groupby(keys, sort=False, dropna=False):
        if not runs[[c for c in columns if c in runs]].notna().any().any():
            continue  # this method has no figures for this evaluation
        row = {"method": method + (f" ({settings})" if settings else ""), "seeds": len(runs)}
        run_records = [records[key] for key in runs.key]
        for column in columns:
            name = column.split("/", 1)[1]
            row[name] = _cell(runs[column]) if column in runs else "–"
            paper = _paper_figures(run_records, evaluation, name)
            if paper is not None:
                row[f"{name} (paper)"] = paper
        row["hardware"] = hardware
        row["_sort"] = runs[sort_by].mean() if sort_by in runs else float("nan")
        rows.append(row)
    table = pd.DataFrame(rows).sort_values("_sort", ascending=ascending, na_position="last").drop(columns="_sort")
    order = ["method", "seeds"]
    for column in columns:  # each paper figure right beside the reproduced one
        name = column.split("/", 1)[1]
        order += [c for c in (name, f"{name} (paper)") if c in table]
    headers = {f["name"]: _header(f) for f in figures} | {f"{f['name']} (paper)": f"{f['name']} (paper)" for f in figures}
    return table[order + ["hardware"]].fillna("–").rename(columns=headers).to_markdown(index=False)


def _figures_elsewhere(records: list[dict[str, Any]]) -> str | None:
    """A table of the figures the methods' papers report for settings none of ``records`` is in."""
    shown = {(r["method"]["name"], f["metric"], f["value"]) for r in records for f in r.get("reported", [])}
    rows: dict[tuple, dict[str, Any]] = {}
    for r in records:
        for f in r.get("reported_elsewhere", []):
            key = (r["method"]["name"], f["metric"], f["value"])
            if key not in shown:
                rows.setdefault(key, {"method": key[0], "task": f["task"], "figure": f["metric"], "value": f["value"],
                                      "setting": f["setting"], "source": f["source"]})
    return pd.DataFrame(list(rows.values())).to_markdown(index=False) if rows else None


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


def _plot(frame: pd.DataFrame, task: str, primary: str, path: Path) -> bool:
    x_col, y_col = _column(frame, "artifact_bytes"), _column(frame, primary)
    if x_col is None or y_col is None or frame[[x_col, y_col]].dropna().empty:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    groups = frame.dropna(subset=[x_col, y_col]).groupby(["method", "settings", "preset", "task_settings"])
    for (method, settings, preset, task_settings), runs in groups:
        # runs on other task settings (another model, other classes) are other points, said so
        where = f"{preset}" + ("" if task_settings == "default" else f"; task {task_settings}")
        label = f"{method}" + (f" ({settings})" if settings else "") + f" [{where}]"
        ax.errorbar(runs[x_col].mean(), runs[y_col].mean(), yerr=runs[y_col].std(ddof=1) if len(runs) > 1 else 0,
                    fmt="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("stored bytes (artifact file)")
    ax.set_ylabel(primary)
    ax.set_title(f"{task}: {primary} against storage (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.16))  # below: never over a point
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return True


def _images(group: pd.DataFrame, records: dict[str, dict[str, Any]], results: Path, out: Path, folder: str) -> list[str]:
    """Markdown showing the images attached to the lowest seed of each row of ``group``, whose
    files are copied from the results folder to ``out / folder``."""
    lines: list[str] = []
    for (method, settings, hardware), row in group.groupby(["method", "settings", "hardware"], sort=True):
        first = records[row.sort_values("seed").key.iloc[0]]
        attachments = [a for a in first.get("attachments", []) if (results / a["file"]).is_file()]
        if not attachments:
            continue
        lines += [f"**{method}**" + (f" ({settings})" if settings else "") + f", seed {first['seed']}, {hardware}:", ""]
        for attachment in attachments:
            name = f"{first['key'][:12]}-{attachment['evaluation']}-{Path(attachment['file']).name}"
            (out / folder).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(results / attachment["file"], out / folder / name)
            lines += [f"![{attachment['caption']}]({folder}/{name})", "", f"*{attachment['caption']}*", ""]
    return lines


def task_markdown(task: str, records: list[dict[str, Any]], frame: pd.DataFrame, plot_name: str | None,
                  results: Path | None = None, out: Path | None = None) -> str:
    ok = frame[frame.status == "ok"]
    primary = ok.primary.dropna().iloc[0] if not ok.empty else None
    metric_info = next((r["task"].get("metrics", []) for r in records if r["status"] == "ok"), [])
    higher = {m["name"]: m["higher_is_better"] for m in metric_info}
    by_key = {r["key"]: r for r in records}
    ok_records = [by_key[key] for key in ok.key]
    lines = [f"# {task}", "", f"Generated by `ucdbench leaderboard` from {len(ok)} successful runs "
             f"({(frame.status != 'ok').sum()} failed or unfinished) of {_commits(ok_records)}. "
             "Cells are mean ± sample std over seeds; "
             f"`seeds` counts the runs; ↑ higher is better, ↓ lower is better, and each table lists the best "
             f"first by its first such figure. Primary metric: **{primary}**"
             + (" (higher is better)." if higher.get(primary, True) else " (lower is better).")
             + " FLOPs = 2 × multiply-adds; `macs` is what most papers call FLOPs.", ""]
    if plot_name:
        lines += [f"![{primary} against stored bytes]({plot_name})", ""]
    evaluations = [e for r in records for e in r.get("evaluations", {})]
    evaluations = list(dict.fromkeys(evaluations))
    for (preset, task_settings), group in ok.groupby(["preset", "task_settings"], sort=True):
        lines += [f"## preset `{preset}`, task settings: {task_settings}", ""]
        for evaluation in evaluations:
            figures = [f for f in _figures_of(ok_records, evaluation)
                       if f"{evaluation}/{f['name']}" in group and group[f"{evaluation}/{f['name']}"].notna().any()]
            if not figures:
                continue
            lines += [f"### {evaluation}", "", _table(group, by_key, evaluation, figures), ""]
        images = _images(group, by_key, results, out, f"{task}-images") if results and out else []
        if images:
            lines += ["### images", "", *images]
    elsewhere = _figures_elsewhere(ok_records)
    if elsewhere:
        lines += ["## The papers' figures in other settings", "",
                  "What the papers report for the methods above in settings no row here is in (another dataset, "
                  "model or scale): for orientation, not to compare cell by cell.", "", elsewhere, ""]
    failed = frame[frame.status != "ok"]
    if not failed.empty:
        lines += ["## failed or unfinished runs", "",
                  failed[["key", "method", "settings", "preset", "seed", "status", "error"]].to_markdown(index=False), ""]
    return "\n".join(lines)


def write_leaderboards(records: list[dict[str, Any]], out: Path, results: Path | None = None) -> list[Path]:
    """Write ``<task>.md`` (+ ``<task>.png``, + ``<task>-images/``) per task and ``README.md``;
    returns the paths. ``results`` is the folder the records came from, whose attached images
    the pages show (None: no images)."""
    if not any(r.get("status") == "ok" for r in records):
        return []
    out.mkdir(parents=True, exist_ok=True)
    frame = records_frame(records)
    written: list[Path] = []
    index = ["# ucdbench leaderboards", "",
             f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `ucdbench leaderboard` "
             f"from {len(records)} run records.", "", "| task | successful runs | methods | presets |", "|---|---|---|---|"]
    for task, task_frame in frame.groupby("task", sort=True):
        task_records = [r for r in records if r["task"]["name"] == task]
        ok = task_frame[task_frame.status == "ok"]
        primary = ok.primary.dropna().iloc[0] if not ok.empty else None
        plot_name = f"{task}.png" if primary and _plot(ok, task, primary, out / f"{task}.png") else None
        if plot_name:
            written.append(out / plot_name)
        path = out / f"{task}.md"
        shutil.rmtree(out / f"{task}-images", ignore_errors=True)  # images of an earlier build's runs
        path.write_text(task_markdown(task, task_records, task_frame, plot_name, results, out) + "\n")
        written.append(path)
        index.append(f"| [{task}]({task}.md) | {len(ok)} | {', '.join(sorted(ok.method.unique()))} | "
                     f"{', '.join(sorted(ok.preset.dropna().unique()))} |")
    readme = out / "README.md"
    readme.write_text("\n".join(index) + "\n")
    return [readme, *written]
