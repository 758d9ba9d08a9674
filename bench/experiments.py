"""Experiment files: the runs of a study, and the claims they test, in one TOML file.

``ucdbench run -f experiments/NAME.toml`` runs them, ``ucdbench plan -f ...`` says what would run,
and ``ucdbench leaderboard -f ...`` judges the claims. A file::

    [experiment]                      # defaults of every [[runs]] block
    description = "MCNC vs PRANC at equal stored numbers"
    preset = "small"
    seeds = [0, 1, 2]
    hardware = "cpu"

    [executor]                        # optional; command-line flags override it
    kind = "slurm"                    # local | ray | slurm
    partition = "gpu"
    time_min = 240

    [[runs]]
    task = "mnist"
    methods = ["mcnc", "pranc"]
    set = { "task.model" = "mlp" }    # every run of the block
    grid = { lr = [1e-2, 3e-2] }      # the product of these lists
    zip = { k = [64, 26], l = [64, 26] }   # these lists side by side (equal lengths)

    [[claims]]
    name = "MCNC beats PRANC on the MLP"
    task = "mnist"
    figures = ["accuracy/top1"]       # every headline figure of the comparison (or figure = "...": one)
    better = { method = "mcnc", set = { "task.model" = "mlp" } }
    than = { method = "pranc", set = { "task.model" = "mlp" } }
    # optional: a selector's own figure (one row before and after a defence, say; a claim of one
    # figure), and higher_is_better = true | false for figures that declare no direction

    [[views]]                         # a table a task's page leads with (:mod:`ucdbench.views`)
    question = "At equal stored numbers, which compression keeps the most accuracy?"
    task = "mnist"
    rows = [{ method = "mcnc" }, { method = "pranc" }]     # optional: every row of the task
    where = { "task.model" = "mlp" }                        # optional: settings every row has
    columns = ["accuracy/top1", "compression/artifact_bytes", "reconstruction/median_ms"]
    rank_by = "accuracy/top1"         # one of columns, with a direction (or higher_is_better = ...)

Errors name the file, the line and the key. Whether the runs themselves can run (methods,
tasks, settings) is checked by resolving them, before any starts, like every other run.
"""

from __future__ import annotations

import itertools
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ucdbench.interfaces import PRESETS, UcdbenchError
from ucdbench.formatting import format_p, signed_difference
from ucdbench.records import hardware_label, has_settings, resolved_settings
from ucdbench.runner import RunSpec

if TYPE_CHECKING:
    from ucdbench.stats import PairedComparison
    from ucdbench.views import View

EXECUTORS = ("local", "ray", "slurm")
_EXECUTOR_KEYS = {
    "local": {"process_per_run"},
    "ray": {"address", "cpus_per_run", "gpus_per_run"},
    "slurm": {"partition", "time_min", "gpus_per_job", "cpus_per_job", "array_parallelism", "cluster"},
}
_EXPERIMENT_KEYS = {"description", "preset", "seeds", "hardware", "threads", "task"}
_RUN_KEYS = {"name", "task", "methods", "preset", "seeds", "hardware", "threads", "set", "grid", "zip"}
_CLAIM_KEYS = {"name", "task", "figure", "figures", "better", "than", "preset", "higher_is_better"}
_SELECTOR_KEYS = {"method", "set", "figure"}
_VIEW_KEYS = {"question", "task", "rows", "where", "columns", "rank_by", "higher_is_better", "preset"}


@dataclass(frozen=True)
class RowSelector:
    """The runs of one leaderboard row: a method, and settings its runs had (``task.KEY`` for the
    task's). Settings are matched against the run's resolved configuration, so a default
    (``activation = "sine"``) matches runs that never set it; give enough of them to tell the
    row from the others: a selector that matches several rows is reported as ambiguous, never
    mixed. ``figure`` (``evaluation/figure``) compares this row's other figure than the claim's:
    one row's figure before and after a defence, say."""

    method: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    figure: str | None = None

    def matches(self, record: Mapping[str, Any]) -> bool:
        return record["method"]["name"] == self.method and has_settings(record, self.settings)

    def __str__(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(self.settings.items()))
        return self.method + (f" ({settings})" if settings else "") + (f" [{self.figure}]" if self.figure else "")


@dataclass(frozen=True)
class Claim:
    """``better`` beats ``than`` on each of ``figures`` (``evaluation/figure``) of ``task``, seed
    by seed. A claim names every headline figure of its comparison before the runs, and each is
    judged and shown: a claim that holds on one figure and reverses on another says both."""

    name: str
    task: str
    figures: tuple[str, ...]
    better: RowSelector
    than: RowSelector
    preset: str
    higher_is_better: bool | None = None
    """The direction the claim states for its figures (an attack's success rate, which declares
    none: higher is the attacker's win); None: each figure's declared direction."""


@dataclass(frozen=True)
class ExecutorSpec:
    """How to spread the runs: ``kind`` and its options (see :mod:`ucdbench.executors`)."""

    kind: str = "local"
    options: Mapping[str, Any] = field(default_factory=dict)
    heartbeat_timeout_s: float | None = None
    """After how long without a heartbeat another host's ``running`` record is taken as
    interrupted (None: :data:`ucdbench.executors.HEARTBEAT_TIMEOUT_S`)."""


@dataclass(frozen=True)
class Experiment:
    path: Path
    description: str
    runs: list[RunSpec]
    claims: list[Claim]
    executor: ExecutorSpec
    views: list[View] = field(default_factory=list)


class _Locator:
    """Finds the line of a key in the file, so that errors can name it (tomllib keeps none)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line(self, table: str, index: int | None, key: str | None) -> int | None:
        """1-based line of ``key`` in the ``index``-th ``[[table]]`` (or in ``[table]``)."""
        header = re.compile(rf"^\s*\[\[\s*{table}\s*\]\]" if index is not None else rf"^\s*\[\s*{table}\s*\]")
        starts = [i for i, text in enumerate(self.lines) if header.match(text)]
        if index is not None and index >= len(starts) or not starts:
            return None
        start = starts[index if index is not None else 0]
        if key is None:
            return start + 1
        pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
        for i in range(start + 1, len(self.lines)):
            if re.match(r"^\s*\[", self.lines[i]):
                break
            if pattern.match(self.lines[i]):
                return i + 1
        return start + 1

    def error(self, table: str, index: int | None, key: str | None, message: str) -> UcdbenchError:
        line = self.line(table, index, key)
        where = f"{self.path}:{line}" if line else str(self.path)
        block = f"[[{table}]] #{index + 1}" if index is not None else f"[{table}]"
        return UcdbenchError(f"{where}: {block}{f' key {key!r}' if key else ''}: {message}")


def _check_keys(locator: _Locator, table: str, index: int | None, data: Mapping[str, Any], allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            raise locator.error(table, index, key, f"unknown key; expected one of {', '.join(sorted(allowed))}")


def _expect(locator: _Locator, table: str, index: int | None, key: str, value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise locator.error(table, index, key, f"expected {what}, got {value!r}")
    return value


def _default_hardware() -> str:
    """The hardware of runs whose file names none: the one a plugin declares the default."""
    from ucdbench.defaults import declared_default
    from ucdbench.plugins import load_registry

    return declared_default(load_registry(), "hardware")


def _seeds(locator: _Locator, table: str, index: int | None, value: Any) -> list[int]:
    if not isinstance(value, list) or not value or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value):
        raise locator.error(table, index, "seeds", f"expected a list of integers ≥ 0 like [0, 1, 2], got {value!r}")
    return value


def _threads(locator: _Locator, table: str, index: int | None, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise locator.error(table, index, "threads", f"expected a whole number of CPU threads ≥ 1, got {value!r}")
    return value


def _settings_grid(locator: _Locator, index: int, block: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``set`` settings combined with the product of ``grid`` and the zip of ``zip``."""
    fixed = _expect(locator, "runs", index, "set", block.get("set", {}), dict, "a table of settings")
    grid = _expect(locator, "runs", index, "grid", block.get("grid", {}), dict, "a table of lists")
    zipped = _expect(locator, "runs", index, "zip", block.get("zip", {}), dict, "a table of lists")
    for key, values in (*grid.items(), *zipped.items()):
        if not isinstance(values, list) or not values:
            table_key = "grid" if key in grid else "zip"
            raise locator.error("runs", index, table_key, f"{key!r} must be a non-empty list of values, got {values!r}")
    overlap = (set(fixed) & set(grid)) | (set(fixed) & set(zipped)) | (set(grid) & set(zipped))
    if overlap:
        raise locator.error("runs", index, None, f"{', '.join(sorted(overlap))} set more than once (set, grid, zip)")
    lengths = {len(v) for v in zipped.values()}
    if len(lengths) > 1:
        raise locator.error("runs", index, "zip", "the lists of zip must have equal lengths, got "
                            + ", ".join(f"{k}: {len(v)}" for k, v in zipped.items()))
    zip_rows = [dict(zip(zipped, values)) for values in zip(*zipped.values())] if zipped else [{}]
    grid_rows = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] if grid else [{}]
    return [{**fixed, **g, **z} for g in grid_rows for z in zip_rows]


def _selector(locator: _Locator, table: str, index: int, key: str, value: Any,
              allowed: set[str] = _SELECTOR_KEYS) -> RowSelector:
    if not isinstance(value, dict) or "method" not in value:
        raise locator.error(table, index, key, f"expected {{ method = \"...\", set = {{ ... }} }}, got {value!r}")
    for inner in value:
        if inner not in allowed:
            raise locator.error(table, index, key, f"unknown key {inner!r}; expected one of {', '.join(sorted(allowed))}")
    settings = value.get("set", {})
    if not isinstance(settings, dict):
        raise locator.error(table, index, key, f"set must be a table of settings, got {settings!r}")
    figure = value.get("figure")
    if figure is not None and not _is_figure(figure):
        raise locator.error(table, index, key, f"figure: expected 'evaluation/figure' like 'accuracy/top1', got {figure!r}")
    return RowSelector(str(value["method"]), dict(settings), figure)


def _is_figure(name: Any) -> bool:
    """Whether ``name`` reads ``evaluation/figure``."""
    return isinstance(name, str) and name.count("/") == 1 and all(name.split("/"))


def _figures(locator: _Locator, table: str, index: int, key: str, value: Any) -> tuple[str, ...]:
    """A non-empty list of distinct ``evaluation/figure`` names (or one such string)."""
    names = [value] if key == "figure" else value
    if not isinstance(names, list) or not names or not all(_is_figure(n) for n in names) or len(set(names)) < len(names):
        what = "'evaluation/figure'" if key == "figure" else "a list of distinct 'evaluation/figure' names"
        raise locator.error(table, index, key, f"expected {what} like 'accuracy/top1', got {value!r}")
    return tuple(names)


def _direction(locator: _Locator, table: str, index: int, value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise locator.error(table, index, "higher_is_better", f"expected true or false, got {value!r}")
    return value


def _claim(locator: _Locator, index: int, claim: Mapping[str, Any], preset: str) -> Claim:
    _check_keys(locator, "claims", index, claim, _CLAIM_KEYS)
    for key in ("name", "task", "better", "than"):
        if key not in claim:
            raise locator.error("claims", index, None, f"missing key {key!r}")
    given = [key for key in ("figure", "figures") if key in claim]
    if len(given) != 1:
        raise locator.error("claims", index, given[-1] if given else None,
                            "give the figures the claim is judged on: figures = [\"evaluation/figure\", ...] "
                            "(every headline figure of the comparison), or figure = \"...\" for one; not both")
    figures = _figures(locator, "claims", index, given[0], claim[given[0]])
    better, than = (_selector(locator, "claims", index, key, claim[key]) for key in ("better", "than"))
    if len(figures) > 1 and (better.figure or than.figure):
        raise locator.error("claims", index, "better" if better.figure else "than",
                            "a row's own figure compares one figure of a row with another: give the claim one "
                            "figure, or split it into one claim per pair of figures")
    return Claim(str(claim["name"]), str(claim["task"]), figures, better, than, claim.get("preset", preset),
                 _direction(locator, "claims", index, claim.get("higher_is_better")))


def _view(locator: _Locator, index: int, view: Mapping[str, Any], preset: str) -> View:
    """A ``[[views]]`` block, checked: its columns, its rows, and a ranked column with a direction."""
    from ucdbench.views import View, declared_direction

    _check_keys(locator, "views", index, view, _VIEW_KEYS)
    for key in ("question", "task", "columns", "rank_by"):
        if key not in view:
            raise locator.error("views", index, None, f"missing key {key!r}")
    question = _expect(locator, "views", index, "question", view["question"], str, "the question the table answers")
    task = _expect(locator, "views", index, "task", view["task"], str, "a task name")
    columns = _figures(locator, "views", index, "columns", view["columns"])
    rank_by = view["rank_by"]
    if rank_by not in columns:
        raise locator.error("views", index, "rank_by", f"{rank_by!r} is not one of columns ({', '.join(columns)}); "
                            "rank by one of the figures the table shows")
    rows = view.get("rows", [])
    if not isinstance(rows, list):
        raise locator.error("views", index, "rows", f"expected a list of {{ method = \"...\", set = {{ ... }} }}, got {rows!r}")
    selectors = tuple(_selector(locator, "views", index, "rows", row, {"method", "set"}) for row in rows)
    where = _expect(locator, "views", index, "where", view.get("where", {}), dict, "a table of settings")
    direction = _direction(locator, "views", index, view.get("higher_is_better"))
    if direction is None:
        try:
            declared = declared_direction(task, rank_by)
        except UcdbenchError as exc:
            raise locator.error("views", index, "rank_by", str(exc)) from None
        if declared is None:
            raise locator.error("views", index, "rank_by",
                                f"{rank_by!r} declares no direction, so no order of the rows means 'best first': "
                                "state it in the view (higher_is_better = true | false) or rank by a figure that has one")
    view_preset = view.get("preset", preset)
    if view_preset not in PRESETS:
        raise locator.error("views", index, "preset", f"unknown preset {view_preset!r}; choose one of {', '.join(PRESETS)}")
    return View(question, task, columns, rank_by, selectors, dict(where), view_preset, direction)


def load_experiment(path: Path | str) -> Experiment:
    """Read and check an experiment file; :class:`UcdbenchError` naming the line and key if it is wrong."""
    path = Path(path)
    if not path.is_file():
        raise UcdbenchError(f"no experiment file {path}; give the path of a .toml file (see experiments/ for examples)")
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UcdbenchError(f"{path}: not valid TOML: {exc}") from exc
    locator = _Locator(path, text)
    for key in data:
        if key not in ("experiment", "executor", "runs", "claims", "views"):
            raise UcdbenchError(f"{path}: unknown key {key!r}; an experiment has the tables [experiment], [executor], "
                                "[[runs]], [[claims]] and [[views]]")
    head = data.get("experiment", {})
    _check_keys(locator, "experiment", None, head, _EXPERIMENT_KEYS)
    defaults = {"preset": head.get("preset", "small"), "seeds": _seeds(locator, "experiment", None, head.get("seeds", [0])),
                "hardware": head["hardware"] if "hardware" in head else _default_hardware(), "task": head.get("task"),
                "threads": _threads(locator, "experiment", None, head.get("threads"))}
    if defaults["preset"] not in PRESETS:
        raise locator.error("experiment", None, "preset", f"unknown preset; choose one of {', '.join(PRESETS)}")

    blocks = data.get("runs", [])
    if not isinstance(blocks, list) or not blocks:
        raise UcdbenchError(f"{path}: no [[runs]] block; an experiment needs at least one")
    runs: list[RunSpec] = []
    for index, block in enumerate(blocks):
        _check_keys(locator, "runs", index, block, _RUN_KEYS)
        methods = block.get("methods")
        if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
            raise locator.error("runs", index, "methods", f"expected a list of method names, got {methods!r}")
        task = block.get("task", defaults["task"])
        if not isinstance(task, str):
            raise locator.error("runs", index, "task", "every block needs a task (here or in [experiment])")
        preset = block.get("preset", defaults["preset"])
        if preset not in PRESETS:
            raise locator.error("runs", index, "preset", f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        seeds = _seeds(locator, "runs", index, block["seeds"]) if "seeds" in block else defaults["seeds"]
        hardware = _expect(locator, "runs", index, "hardware", block.get("hardware", defaults["hardware"]), str,
                           "a hardware name")
        threads = _threads(locator, "runs", index, block["threads"]) if "threads" in block else defaults["threads"]
        for overrides in _settings_grid(locator, index, block):
            runs += [RunSpec(method, task, preset, seed, hardware, overrides, threads)
                     for method in methods for seed in seeds]

    claims = [_claim(locator, index, claim, defaults["preset"]) for index, claim in enumerate(data.get("claims", []))]
    views = [_view(locator, index, view, defaults["preset"]) for index, view in enumerate(data.get("views", []))]

    executor = data.get("executor", {})
    kind = executor.get("kind", "local")
    if kind not in EXECUTORS:
        raise locator.error("executor", None, "kind", f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
    options = {k: v for k, v in executor.items() if k not in ("kind", "heartbeat_timeout_s")}
    _check_keys(locator, "executor", None, options, _EXECUTOR_KEYS[kind] | {"heartbeat_timeout_s"})
    timeout = executor.get("heartbeat_timeout_s")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise locator.error("executor", None, "heartbeat_timeout_s", f"expected seconds > 0, got {timeout!r}")
    return Experiment(path, str(head.get("description", "")), runs, claims,
                      ExecutorSpec(kind, options, None if timeout is None else float(timeout)), views)


@dataclass(frozen=True)
class ClaimVerdict:
    """One figure of a claim judged on the records of one hardware: the seed-by-seed comparison
    of its two rows."""

    claim: Claim
    figure: str
    """The claim's figure judged here (one of ``claim.figures``)."""
    hardware: str
    comparison: PairedComparison | None
    """better − than, or None when a selector is ambiguous."""
    note: str = ""

    @property
    def verdict(self) -> str:
        return self.comparison.verdict() if self.comparison is not None else self.note

    def difference(self) -> str:
        """The mean difference (better − than), signed, with which way is better: ``+2.9 better``."""
        c = self.comparison
        return "–" if c is None or c.mean_difference is None else signed_difference(c.mean_difference, c.improvement)

    def p(self) -> str:
        """The p-value with the digits that show which side of the threshold it is on."""
        return "–" if self.comparison is None or self.comparison.p_value is None else format_p(self.comparison.p_value)


def _figure_value(record: Mapping[str, Any], figure: str) -> float | None:
    evaluation, name = figure.split("/")
    value = record.get("evaluations", {}).get(evaluation, {}).get(name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _higher_is_better(records: list[Mapping[str, Any]], figure: str) -> bool | None:
    evaluation, name = figure.split("/")
    for record in records:
        for declared in record.get("figures", {}).get(evaluation, []):
            if declared["name"] == name:
                return declared.get("higher_is_better")
    return None


def _ambiguity(selector: RowSelector, matched: list[Mapping[str, Any]]) -> str | None:
    """Why ``matched`` (the runs ``selector`` matches) are more than one row, naming the resolved
    settings that tell the rows apart; None when they are one row (however their settings were typed)."""
    rows = {json.dumps(resolved_settings(r), sort_keys=True, default=str): resolved_settings(r) for r in matched}
    if len(rows) < 2:
        return None
    keys = sorted(k for k in set().union(*rows.values())
                  if len({json.dumps(c.get(k), sort_keys=True, default=str) for c in rows.values()}) > 1)
    apart = "; ".join(", ".join(f"{k}={c.get(k)}" for k in keys) for c in rows.values())
    return f"{selector} matches {len(rows)} rows ({apart}): add the settings that tell them apart"


def judge_claims(claims: list[Claim], records: list[Mapping[str, Any]]) -> list[ClaimVerdict]:
    """Each figure of each claim on each hardware (and thread count) where both its rows have
    successful runs that report it, paired by seed (:func:`ucdbench.stats.paired_comparison`):
    holds, does not hold, not significant, or untestable (fewer than two shared seeds)."""
    from ucdbench.stats import paired_comparison

    verdicts = []
    for claim in claims:
        runs = [r for r in records if r.get("status") == "ok" and r["task"]["name"] == claim.task
                and r.get("preset") == claim.preset]
        for machine in sorted({hardware_label(r["hardware"]) for r in runs}):
            here = [r for r in runs if hardware_label(r["hardware"]) == machine]
            for claimed in claim.figures:
                rows, ambiguous = [], []
                for selector in (claim.better, claim.than):
                    figure = selector.figure or claimed
                    matched = [r for r in here if selector.matches(r) and _figure_value(r, figure) is not None]
                    problem = _ambiguity(selector, matched)
                    if problem:
                        ambiguous.append(problem)
                    rows.append({r["seed"]: _figure_value(r, figure) for r in matched})
                if ambiguous:
                    verdicts.append(ClaimVerdict(claim, claimed, machine, None, "ambiguous: " + " ".join(ambiguous)))
                elif rows[0] and rows[1]:
                    direction = claim.higher_is_better
                    comparison = paired_comparison(rows[0], rows[1], _higher_is_better(here, claimed)
                                                   if direction is None else direction)
                    verdicts.append(ClaimVerdict(claim, claimed, machine, comparison))
    return verdicts


def claims_markdown(claims: list[Claim], verdicts: list[ClaimVerdict]) -> str:
    """A table of the claims, one line per claim × figure × hardware: each figure's verdict,
    or that no runs of both rows report it."""
    lines = ["| claim | task | figure | better | than | hardware | difference | n | p | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for claim in claims:
        for figure in claim.figures:
            head = f"| {claim.name} | {claim.task} | {figure} | {claim.better} | {claim.than} |"
            judged = [v for v in verdicts if v.claim is claim and v.figure == figure]
            if not judged:
                lines.append(f"{head} – | – | – | – | no runs of both rows report it |")
            for v in judged:
                if v.comparison is None:
                    lines.append(f"{head} {v.hardware} | – | – | – | {v.verdict} |")
                else:
                    lines.append(f"{head} {v.hardware} | {v.difference()} | {v.comparison.n} | {v.p()} | "
                                 f"**{v.verdict}** |")
    return "\n".join(lines)
