"""Experiment files: the runs of a study, and the claims they test, in one TOML file.

``ucdbench run -f experiments/NAME.toml`` runs them, ``ucdbench plan -f ...`` says what would run,
and ``ucdbench leaderboard -f ...`` judges the claims. A file::

    [experiment]                      # defaults of every [[runs]] block
    description = "MCNC vs PRANC at equal stored numbers"
    preset = "small"
    seeds = [0, 1, 2]
    hardware = "cpu"
    sinks = ["mlflow=http://127.0.0.1:5000"]   # optional: where every run also goes (--sink)

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

    [[views]]                         # a table a task's page leads with (:mod:`ucdbench.reporting.views`)
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
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ucdbench.contracts.interfaces import PRESETS, UcdbenchError
from ucdbench.reporting.claims import Claim, RowSelector
from ucdbench.running.runner import RunSpec
from ucdbench.running.sinks import SinkRequest

if TYPE_CHECKING:
    from ucdbench.reporting.views import View

EXECUTORS = ("local", "ray", "slurm")
_EXECUTOR_KEYS = {
    "local": {"process_per_run"},
    "ray": {"address", "cpus_per_run", "gpus_per_run"},
    "slurm": {"partition", "time_min", "gpus_per_job", "cpus_per_job", "array_parallelism", "cluster"},
}
_EXPERIMENT_KEYS = {"description", "preset", "seeds", "hardware", "threads", "task", "sinks"}
_RUN_KEYS = {"name", "task", "methods", "preset", "seeds", "hardware", "threads", "set", "grid", "zip"}
_CLAIM_KEYS = {"name", "task", "figure", "figures", "better", "than", "preset", "higher_is_better"}
_SELECTOR_KEYS = {"method", "set", "figure"}
_VIEW_KEYS = {"question", "task", "rows", "where", "columns", "rank_by", "higher_is_better", "preset"}


@dataclass(frozen=True)
class ExecutorSpec:
    """How to spread the runs: ``kind`` and its options (see :mod:`ucdbench.running.executors`)."""

    kind: str = "local"
    options: Mapping[str, Any] = field(default_factory=dict)
    heartbeat_timeout_s: float | None = None
    """After how long without a heartbeat another host's ``running`` record is taken as
    interrupted (None: :data:`ucdbench.running.executors.HEARTBEAT_TIMEOUT_S`)."""


@dataclass(frozen=True)
class Experiment:
    path: Path
    description: str
    runs: list[RunSpec]
    claims: list[Claim]
    executor: ExecutorSpec
    views: list[View] = field(default_factory=list)
    sinks: list[SinkRequest] = field(default_factory=list)
    """Where every run also goes (``[experiment]``'s ``sinks``; ``--sink`` adds to them)."""


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
    from ucdbench.discovery.defaults import declared_default
    from ucdbench.discovery.registry import load_registry

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
    from ucdbench.reporting.views import View, declared_direction

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
    defaults = _run_defaults(locator, head)
    blocks = data.get("runs", [])
    if not isinstance(blocks, list) or not blocks:
        raise UcdbenchError(f"{path}: no [[runs]] block; an experiment needs at least one")
    runs = [spec for index, block in enumerate(blocks) for spec in _block_runs(locator, index, block, defaults)]
    claims = [_claim(locator, index, claim, defaults["preset"]) for index, claim in enumerate(data.get("claims", []))]
    views = [_view(locator, index, view, defaults["preset"]) for index, view in enumerate(data.get("views", []))]
    return Experiment(path, str(head.get("description", "")), runs, claims,
                      _executor(locator, data.get("executor", {})), views, _sinks(locator, head.get("sinks", [])))


def _sinks(locator: _Locator, sinks: Any) -> list[SinkRequest]:
    """``[experiment]``'s ``sinks``: a list of ``"NAME"`` or ``"NAME=TARGET"``."""
    if not isinstance(sinks, list) or not all(isinstance(s, str) for s in sinks):
        raise locator.error("experiment", None, "sinks", f'expected a list of "NAME" or "NAME=TARGET", got {sinks!r}')
    try:
        return [SinkRequest.parse(text) for text in sinks]
    except UcdbenchError as exc:
        raise locator.error("experiment", None, "sinks", str(exc).removeprefix("--sink ")) from exc


def _run_defaults(locator: _Locator, head: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[experiment]`` table's defaults of every ``[[runs]]`` block, checked."""
    _check_keys(locator, "experiment", None, head, _EXPERIMENT_KEYS)
    defaults = {"preset": head.get("preset", "small"), "seeds": _seeds(locator, "experiment", None, head.get("seeds", [0])),
                "hardware": head["hardware"] if "hardware" in head else _default_hardware(), "task": head.get("task"),
                "threads": _threads(locator, "experiment", None, head.get("threads"))}
    if defaults["preset"] not in PRESETS:
        raise locator.error("experiment", None, "preset", f"unknown preset; choose one of {', '.join(PRESETS)}")
    return defaults


def _block_runs(locator: _Locator, index: int, block: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[RunSpec]:
    """The runs of one ``[[runs]]`` block: each method × seed × settings of its grid."""
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
    return [RunSpec(method, task, preset, seed, hardware, overrides, threads)
            for overrides in _settings_grid(locator, index, block) for method in methods for seed in seeds]


def _executor(locator: _Locator, executor: Mapping[str, Any]) -> ExecutorSpec:
    """The ``[executor]`` table, checked: its kind, that kind's options, the heartbeat timeout."""
    kind = executor.get("kind", "local")
    if kind not in EXECUTORS:
        raise locator.error("executor", None, "kind", f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
    options = {k: v for k, v in executor.items() if k not in ("kind", "heartbeat_timeout_s")}
    _check_keys(locator, "executor", None, options, _EXECUTOR_KEYS[kind] | {"heartbeat_timeout_s"})
    timeout = executor.get("heartbeat_timeout_s")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise locator.error("executor", None, "heartbeat_timeout_s", f"expected seconds > 0, got {timeout!r}")
    return ExecutorSpec(kind, options, None if timeout is None else float(timeout))
