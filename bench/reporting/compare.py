"""``ucdbench compare BASE HEAD``: the regression gate between two results folders.

Runs are matched by what was asked for — method, task, preset, seed, ``--set`` overrides — and
by the class of hardware they ran on (:func:`hardware_class`), never by key: a key includes the
fingerprint of the code, which is what changes between the two folders. Only runs on the same
class of hardware are compared; a run both folders hold on different classes fails the gate
(a regression could hide there), and so does a comparison that compared nothing.

Each figure is compared as its :class:`~ucdbench.contracts.interfaces.FigureKind` says:

- **exact** figures (stored bytes, FLOPs, ``weights_equal``) must be equal on every seed; any
  change fails the gate, whichever way it goes: it means the method or the harness changed.
- **quality** figures are compared across the seeds both folders have, paired by seed
  (:func:`ucdbench.core.stats.paired_comparison`): a change counts when p < ``alpha`` *and* the
  mean moved by at least ``min_effect`` of BASE's mean, so that neither noise nor a real but
  negligible shift fails the gate. A figure with no better direction is reported as changed
  and does not fail it.
- **timing** figures are compared run by run on the evaluation's raw samples (``samples_ms``)
  by asv's rule (:func:`ucdbench.core.stats.slowdown_test`), never on two medians, and a row's
  timing changes only when it does on every seed (each seed's run is a separate process at a
  separate time; a load spike during one run is not a slowdown of the code).

A run that succeeded in BASE and failed in HEAD is a regression too.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ucdbench.contracts.interfaces import FigureKind, UcdbenchError
from ucdbench.core.formatting import format_number, format_p
from ucdbench.core.stats import MIN_EFFECT, SIGNIFICANCE, SLOWDOWN_ALPHA, SLOWDOWN_FACTOR, paired_comparison, slowdown_test
from ucdbench.running.store import RunStore, SkippedFile

if TYPE_CHECKING:
    from ucdbench.reporting.accepted import AcceptanceReport

RAW_SAMPLES = "samples_ms"
"""Where an evaluation with timing figures keeps its raw per-call times (ms)."""
WORK_SAMPLES = "work_samples_ms"
"""Where it keeps the work time of each call (ms), when the hardware has a work clock
(:meth:`ucdbench.api.Hardware.work_seconds`): what the gate tests where both sides have it."""
def hardware_class(record: Mapping[str, Any]) -> str:
    """A short hash of the class of hardware a record ran on: what its hardware plugin declared
    comparable (:meth:`ucdbench.api.Hardware.comparison_class`: the CPU model and threads; the
    GPU model, count and driver major), so that runs on equal machines compare although their
    full descriptions (memory, driver patch level, device index) differ."""
    declared = record.get("hardware_class")
    if declared is None:  # a record of a ucdbench that declared none: kind and model
        hardware = record.get("hardware") or {}
        declared = {"kind": hardware.get("kind"), "name": hardware.get("name")}
    return hashlib.sha256(json.dumps(declared, sort_keys=True, default=str).encode()).hexdigest()[:12]


def load_results(folder: str | Path, role: str) -> tuple[list[dict[str, Any]], list[SkippedFile]]:
    """The records in results folder ``folder`` (``role``: BASE or HEAD, for messages) and the
    files in it that are not records; a :class:`UcdbenchError` when there is nothing to compare."""
    store = RunStore(folder)
    if not store.root.is_dir():
        raise UcdbenchError(f"{role} {store.root} is not a folder; give a results folder (the --results of "
                            "`ucdbench run`, holding runs/)")
    records, skipped = store.scan()
    if not records:
        raise UcdbenchError(f"{role} {store.root} holds no run records ({store.runs_dir}/*.json"
                            + (f": {len(skipped)} unreadable" if skipped else "") + "); is it a results folder?")
    return records, skipped


class Change(Enum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    CHANGED = "changed"
    """A significant change of a figure with no better direction."""
    UNCHANGED = "unchanged"
    ACCEPTED = "accepted"
    """A regression an entry of the accepted-changes file names (:mod:`ucdbench.reporting.accepted`)."""
    UNCOMPARABLE = "uncomparable"
    """A run both folders hold that could not be compared (no common hardware class): it
    fails the gate, since a regression could hide there."""


@dataclass(frozen=True)
class Finding:
    """One figure of one run (or of a row of seeds) compared; values formatted for a reader.
    ``setting`` and ``figures`` (``evaluation/figure`` names, or ``status``) say what it is
    about, for matching accepted changes."""

    run: str
    figure: str
    kind: FigureKind | None
    change: Change
    base: str
    head: str
    test: str
    setting: RunSetting | None = None
    figures: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    """The keys of HEAD's runs the finding is about, so a page can mark the rows they make up."""


@dataclass(frozen=True)
class NotCompared:
    run: str
    reason: str


@dataclass
class Comparison:
    findings: list[Finding] = field(default_factory=list)
    not_compared: list[NotCompared] = field(default_factory=list)

    def of(self, change: Change) -> list[Finding]:
        return [f for f in self.findings if f.change is change]

    @property
    def regressed(self) -> bool:
        return bool(self.of(Change.REGRESSION))

    @property
    def compared_nothing(self) -> bool:
        return not any(f.change is not Change.UNCOMPARABLE for f in self.findings)

    @property
    def fails_gate(self) -> bool:
        """A regression, a run both folders hold that could not be compared, or nothing compared
        at all: the gate passes only on evidence, never by accident."""
        return self.regressed or bool(self.of(Change.UNCOMPARABLE)) or self.compared_nothing


@dataclass(frozen=True)
class RunSetting:
    """What makes two runs comparable, but the seed and the hardware."""

    method: str
    task: str
    preset: str
    overrides: str
    """Canonical JSON of the ``--set`` overrides."""

    def label(self) -> str:
        overrides = json.loads(self.overrides)
        own = ", ".join(f"{k}={v}" for k, v in overrides.items() if not k.startswith("task."))
        task = ", ".join(f"{k[5:]}={v}" for k, v in overrides.items() if k.startswith("task."))
        return (f"{self.method}" + (f" ({own})" if own else "") + f" · {self.task}" + (f" ({task})" if task else "")
                + f" · {self.preset}")


@dataclass(frozen=True)
class Row:
    """The runs of one setting on one hardware, as the report names them."""

    setting: RunSetting
    hardware: str

    @property
    def label(self) -> str:
        return f"{self.setting.label()} · {self.hardware}"


Runs = dict[RunSetting, dict[str, dict[int, dict[str, Any]]]]
"""setting → hardware class → seed → record."""


def _by_setting(records: Sequence[dict[str, Any]]) -> tuple[Runs, dict[str, str]]:
    """Records grouped for matching (the latest of repeated runs wins), and a readable name per
    hardware fingerprint."""
    runs: Runs = {}
    names: dict[str, str] = {}
    for record in sorted(records, key=lambda r: r.get("finished_at") or r.get("started_at") or ""):
        hardware = record.get("hardware") or {}
        fingerprint = hardware_class(record)
        shown = ", ".join(f"{k} {v}" for k, v in (record.get("hardware_class") or {}).items() if k not in ("kind", "name"))
        names[fingerprint] = (f"{hardware.get('kind', '?')}: {hardware.get('name', '?')}" + (f", {shown}" if shown else "")
                              + f" [{fingerprint}]")
        setting = RunSetting(record["method"]["name"], record["task"]["name"], str(record.get("preset")),
                           json.dumps(record.get("overrides") or {}, sort_keys=True, default=str))
        runs.setdefault(setting, {}).setdefault(fingerprint, {})[int(record.get("seed", 0))] = record
    return runs, names


def _seeds(seeds: Sequence[int]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ", ".join(map(str, seeds))


def _value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return format_number(value)


def _number(value: Any) -> float | None:
    """A figure's value as a finite number, or None (absent, a flag, a list, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _declared(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """evaluation → figure name → declaration in ``records``, the last one's where several
    declare it (HEAD's: the newer code's)."""
    declared: dict[str, dict[str, dict[str, Any]]] = {}
    for record in records:
        for evaluation, figures in (record.get("figures") or {}).items():
            for figure in figures:
                declared.setdefault(evaluation, {})[figure["name"]] = figure
    return declared


@dataclass(frozen=True)
class Thresholds:
    """When a change counts: ``alpha`` and ``min_effect`` for quality figures, the slowdown
    factor and p threshold for timings (see the module's docstring)."""

    alpha: float = SIGNIFICANCE
    min_effect: float = MIN_EFFECT
    slowdown_factor: float = SLOWDOWN_FACTOR
    slowdown_alpha: float = SLOWDOWN_ALPHA

    def check(self) -> None:
        for option, value in (("--alpha", self.alpha), ("slowdown_alpha", self.slowdown_alpha)):
            if not 0 < value < 1:
                raise UcdbenchError(f"{option} {value}: a p-value threshold lies between 0 and 1 (for example 0.05)")
        if self.min_effect < 0:
            raise UcdbenchError(f"--min-effect {self.min_effect}: a relative change is ≥ 0 (0.01 is 1%)")
        if self.slowdown_factor <= 1:
            raise UcdbenchError(f"--slowdown-factor {self.slowdown_factor}: a slowdown factor is > 1 (1.1 is 10%)")


def _compare_exact(row: Row, seeds: list[int], base: dict[int, dict], head: dict[int, dict], evaluation: str,
                   figure: dict[str, Any], out: Comparison) -> None:
    name = figure["name"]
    before = {s: base[s]["evaluations"].get(evaluation, {}).get(name) for s in seeds}
    after = {s: head[s]["evaluations"].get(evaluation, {}).get(name) for s in seeds}
    label = f"{evaluation}/{name}"
    new = [s for s in seeds if before[s] is None and after[s] is not None]
    if new:
        out.not_compared.append(NotCompared(f"{row.label} · {_seeds(new)} · {label}", "new in HEAD"))
    present = [s for s in seeds if before[s] is not None]  # gone in HEAD: a change
    if not present:
        return
    differing = [s for s in present if not (before[s] == after[s] or _both_nan(before[s], after[s]))]
    if not differing:
        out.findings.append(Finding(f"{row.label} · {_seeds(present)}", label, FigureKind.EXACT, Change.UNCHANGED,
                                    _values(before, present), _values(after, present), "equal", row.setting, (label,),
                                    _keys(head, present)))
        return
    out.findings.append(Finding(f"{row.label} · {_seeds(differing)}", label, FigureKind.EXACT, Change.REGRESSION,
                                _values(before, differing), _values(after, differing),
                                "an exact figure changed" + _direction(figure, before, after, differing),
                                row.setting, (label,), _keys(head, differing)))


def _keys(runs: Mapping[int, dict[str, Any]], seeds: Sequence[int]) -> tuple[str, ...]:
    """The run keys of ``seeds`` in one folder's row."""
    return tuple(runs[s]["key"] for s in seeds)


def _both_nan(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)


def _values(values: Mapping[int, Any], seeds: Sequence[int]) -> str:
    shown = list(dict.fromkeys("–" if values[s] is None else _value(values[s]) for s in seeds))
    return " / ".join(shown)


def _direction(figure: dict[str, Any], before: Mapping[int, Any], after: Mapping[int, Any],
               seeds: Sequence[int]) -> str:
    higher = figure.get("higher_is_better")
    pairs = [(_number(before[s]), _number(after[s])) for s in seeds]
    if higher is None or any(a is None or b is None for a, b in pairs):
        return ""
    better = all((b > a) == higher for a, b in pairs)
    worse = all((b < a) == higher for a, b in pairs)
    return " (for the better)" if better else " (for the worse)" if worse else ""


def _compare_quality(row: Row, seeds: list[int], base: dict[int, dict], head: dict[int, dict], evaluation: str,
                     figure: dict[str, Any], limits: Thresholds, out: Comparison) -> None:
    name, label = figure["name"], f"{evaluation}/{figure['name']}"
    before = {s: v for s in seeds if (v := _number(base[s]["evaluations"].get(evaluation, {}).get(name))) is not None}
    after = {s: v for s in seeds if (v := _number(head[s]["evaluations"].get(evaluation, {}).get(name))) is not None}
    if not before and not after:
        return
    comparison = paired_comparison(after, before, figure.get("higher_is_better"))
    if comparison.p_value is None:
        out.not_compared.append(NotCompared(f"{row.label} · {label}", f"a quality figure is compared across seeds, and "
                                            f"{comparison.n} seed(s) have it in both folders (2 or more needed)"))
        return
    paired = list(comparison.seeds)
    beyond = comparison.significant(limits.alpha) and abs(comparison.relative) >= limits.min_effect
    if not beyond:
        change = Change.UNCHANGED
    elif comparison.improvement is None:
        change = Change.CHANGED
    else:
        change = Change.IMPROVEMENT if comparison.improvement > 0 else Change.REGRESSION
    relative = "∞" if math.isinf(comparison.relative) else f"{100 * comparison.relative:+.2g}%".replace("-", "−")
    test = (f"mean {'+' if comparison.mean_difference >= 0 else '−'}{_value(abs(comparison.mean_difference))} "
            f"({relative}), paired t-test {format_p(comparison.p_value, limits.alpha)}, n = {comparison.n}")
    out.findings.append(Finding(f"{row.label} · {_seeds(paired)}", label, FigureKind.QUALITY, change,
                                _value(statistics.fmean(before[s] for s in paired)),
                                _value(statistics.fmean(after[s] for s in paired)), test, row.setting, (label,),
                                _keys(head, paired)))


def _compare_timing(row: Row, seeds: list[int], base: dict[int, dict], head: dict[int, dict], evaluation: str,
                    names: list[str], limits: Thresholds, out: Comparison) -> None:
    """asv's rule on each seed's raw samples — of work time where both sides kept it (another
    job's load does not inflate it), else of wall time; with several seeds, a row changes only
    when every testable seed changes the same way: the samples of one run share the machine's
    state while it ran (a load spike slows all of them), so they are not independent, while the
    seeds' runs are dispatched apart (every setting's seed 0, then seed 1, ...)."""
    tested = []
    for seed in seeds:
        before_results = base[seed]["evaluations"].get(evaluation, {})
        after_results = head[seed]["evaluations"].get(evaluation, {})
        clock = WORK_SAMPLES if before_results.get(WORK_SAMPLES) and after_results.get(WORK_SAMPLES) else RAW_SAMPLES
        before, after = before_results.get(clock), after_results.get(clock)
        missing = [role for role, samples in (("BASE", before), ("HEAD", after)) if not samples]
        if missing:
            out.not_compared.append(NotCompared(
                f"{row.label} · seed {seed} · {evaluation} ({', '.join(names)})",
                f"timing figures are compared on raw samples, and {' and '.join(missing)} recorded none "
                f"({RAW_SAMPLES}: runs of a ucdbench that did not keep them)"))
            continue
        change = slowdown_test(before, after, limits.slowdown_factor, limits.slowdown_alpha)
        if not change.testable:  # too few samples: no verdict, and never "within the rule"
            out.not_compared.append(NotCompared(f"{row.label} · seed {seed} · {evaluation} ({', '.join(names)})",
                                                f"{change.describe()}; {len(before)} vs {len(after)} samples"))
            continue
        tested.append((seed, before, after, change, clock))
    slower = bool(tested) and all(change.slower for *_, change, _ in tested)
    faster = bool(tested) and all(change.faster for *_, change, _ in tested)
    for seed, before, after, change, clock in tested:
        verdict = Change.REGRESSION if slower else Change.IMPROVEMENT if faster else Change.UNCHANGED
        label = f"{evaluation}/{clock}"
        test = (f"{change.describe()}, {len(before)} vs {len(after)} samples of "
                + ("work time (process CPU)" if clock == WORK_SAMPLES else "wall time"))
        out.findings.append(Finding(f"{row.label} · seed {seed}", f"{label} ({', '.join(names)})", FigureKind.TIMING,
                                    verdict, f"{_value(statistics.median(before))} ms",
                                    f"{_value(statistics.median(after))} ms", test, row.setting,
                                    tuple(f"{evaluation}/{name}" for name in names), _keys(head, [seed])))


def _compare_rows(row: Row, base: dict[int, dict], head: dict[int, dict], limits: Thresholds,
                  out: Comparison) -> None:
    """Two rows of runs of one setting on one hardware, seed by seed."""
    for seed in sorted(set(base) ^ set(head)):
        role = "BASE" if seed in base else "HEAD"
        out.not_compared.append(NotCompared(f"{row.label} · seed {seed}", f"only in {role}"))
    ok: list[int] = []
    for seed in sorted(set(base) & set(head)):
        before, after = base[seed]["status"], head[seed]["status"]
        if before == after == "ok":
            ok.append(seed)
        elif before == "ok" and after == "failed":
            out.findings.append(Finding(f"{row.label} · seed {seed}", "status", None, Change.REGRESSION, "ok", "failed",
                                        head[seed].get("error") or "failed", row.setting, ("status",),
                                        _keys(head, [seed])))
        elif before == "failed" and after == "ok":
            out.findings.append(Finding(f"{row.label} · seed {seed}", "status", None, Change.IMPROVEMENT, "failed", "ok",
                                        "succeeds now", row.setting, ("status",), _keys(head, [seed])))
        else:
            out.not_compared.append(NotCompared(f"{row.label} · seed {seed}", f"status {before} in BASE, {after} in HEAD"))
    if not ok:
        return
    declared = _declared([*(base[s] for s in ok), *(head[s] for s in ok)])
    for evaluation, figures in declared.items():
        timing = [name for name, figure in figures.items() if FigureKind.of(figure) is FigureKind.TIMING]
        if timing:
            _compare_timing(row, ok, base, head, evaluation, timing, limits, out)
        for figure in figures.values():
            kind = FigureKind.of(figure)
            if kind is FigureKind.EXACT:
                _compare_exact(row, ok, base, head, evaluation, figure, out)
            elif kind is FigureKind.QUALITY:
                _compare_quality(row, ok, base, head, evaluation, figure, limits, out)


def compare_records(base: Sequence[dict[str, Any]], head: Sequence[dict[str, Any]],
                    limits: Thresholds = Thresholds()) -> Comparison:
    """Every run of ``head`` against its match in ``base`` (see the module's docstring)."""
    limits.check()
    base_runs, base_names = _by_setting(base)
    head_runs, head_names = _by_setting(head)
    names = {**base_names, **head_names}
    out = Comparison()
    for setting in sorted(base_runs.keys() | head_runs.keys(), key=lambda s: (s.task, s.preset, s.method, s.overrides)):
        before, after = base_runs.get(setting, {}), head_runs.get(setting, {})
        for fingerprint in sorted(before.keys() | after.keys()):
            row = Row(setting, names[fingerprint])
            run = row.label
            if fingerprint in before and fingerprint in after:
                _compare_rows(row, before[fingerprint], after[fingerprint], limits, out)
                continue
            role, other = ("BASE", after) if fingerprint in before else ("HEAD", before)
            elsewhere = sorted(names[f] for f in other if f not in (before if role == "BASE" else after))
            if not elsewhere:
                out.not_compared.append(NotCompared(run, f"only in {role}"))
            elif role == "HEAD":  # reported once, from BASE's side
                continue
            else:
                out.findings.append(Finding(
                    run, "hardware", None, Change.UNCOMPARABLE, row.hardware, "; ".join(elsewhere),
                    f"both folders ran it, on hardware of different classes, so nothing of it was compared; rerun "
                    f"one side on the other's hardware class, or accept it ({setting.label()})", setting, ("hardware",)))
    return out


def _findings_table(findings: list[Finding]) -> list[str]:
    lines = ["| run | figure | kind | BASE | HEAD | test |", "|---|---|---|---|---|---|"]
    for f in findings:
        cells = (f.run, f.figure, f.kind.value if f.kind else "run", f.base, f.head, f.test)
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return lines


def commits_of(records: Sequence[dict[str, Any]]) -> list[str]:
    """The project commits ``records`` ran on ("unknown" for a record that names none)."""
    return sorted({(r.get("environment") or {}).get("git_commit") or "unknown" for r in records})


def _commits(records: Sequence[dict[str, Any]]) -> str:
    return ", ".join(f"`{c}`" for c in commits_of(records))


def verdict(comparison: Comparison) -> str:
    """The gate's verdict in one sentence: regressions, runs that could not be compared, nothing
    compared, or no regression."""
    regressions, uncomparable = comparison.of(Change.REGRESSION), comparison.of(Change.UNCOMPARABLE)
    if regressions:
        return f"{len(regressions)} regression{'s' if len(regressions) != 1 else ''}."
    if uncomparable:
        return f"{len(uncomparable)} run{'s' if len(uncomparable) != 1 else ''} could not be compared: the gate fails."
    if comparison.compared_nothing:
        return "Nothing was compared: the gate fails."
    return "No regression."


def rule(limits: Thresholds) -> str:
    """How runs are matched and when a figure counts as changed, for the report's reader."""
    return ("Runs are matched by method, task, preset, seed, settings and hardware fingerprint, and compared only on "
            "the same hardware. Exact figures must be equal. A quality figure changes when a paired t-test across "
            f"the seeds both have gives p < {limits.alpha:g} and its mean moves by at least "
            f"{100 * limits.min_effect:g}% of BASE's. A timing changes when the median of its raw samples moves "
            f"by more than ×{limits.slowdown_factor:g} and its samples differ (a two-sided Mann–Whitney U test "
            f"p < {limits.slowdown_alpha:g}, or with few samples the 99% intervals of the medians apart; with fewer "
            "than 8 a side it is untestable).")


def markdown(comparison: Comparison, base: tuple[str, Sequence[dict]], head: tuple[str, Sequence[dict]],
             limits: Thresholds = Thresholds(), acceptances: AcceptanceReport | None = None) -> str:
    """The report: regressions first, then improvements and directionless changes, then what
    was unchanged (counts), then what could not be compared and why."""
    regressions, improvements = comparison.of(Change.REGRESSION), comparison.of(Change.IMPROVEMENT)
    changed, unchanged = comparison.of(Change.CHANGED), comparison.of(Change.UNCHANGED)
    accepted, uncomparable = comparison.of(Change.ACCEPTED), comparison.of(Change.UNCOMPARABLE)
    lines = [
        "# ucdbench compare", "",
        f"BASE `{base[0]}`: {len(base[1])} runs of {_commits(base[1])}. "
        f"HEAD `{head[0]}`: {len(head[1])} runs of {_commits(head[1])}.", "",
        rule(limits), "",
        f"**{verdict(comparison)}**", "",
        f"## Regressions ({len(regressions)})", "",
        *(_findings_table(regressions) if regressions else ["None."]), "",
        f"## Improvements ({len(improvements)})", "",
        *(_findings_table(improvements) if improvements else ["None."]), "",
    ]
    if uncomparable:
        lines += [f"## In both folders, not comparable ({len(uncomparable)})", "", *_findings_table(uncomparable), ""]
    if accepted or acceptances is not None:
        lines += [f"## Accepted changes ({len(accepted)})", "",
                  *(_findings_table(accepted) if accepted else ["None."]), ""]
    if acceptances is not None and (acceptances.unused or acceptances.expired):
        lines += ["Entries of the accepted-changes file that accepted nothing (remove them once their change has "
                  "become the baseline):", "",
                  *(f"- {a.line}: {a.describe()} — {a.reason}" for a in acceptances.unused),
                  *(f"- {a.line}: {a.describe()} — expired {a.expires}" for a in acceptances.expired), ""]
    if changed:
        lines += [f"## Changed, with no better direction ({len(changed)})", "", *_findings_table(changed), ""]
    counts = {kind: sum(f.kind is kind for f in unchanged) for kind in FigureKind}
    lines += ["## Unchanged", "",
              f"- exact: {counts[FigureKind.EXACT]} figures equal on every seed",
              f"- quality: {counts[FigureKind.QUALITY]} figures within noise",
              f"- timing: {counts[FigureKind.TIMING]} runs' raw samples within the rule", ""]
    if comparison.compared_nothing:
        lines += ["Nothing could be compared: no run of HEAD matches one of BASE on the same hardware class.", ""]
    lines += [f"## Not compared ({len(comparison.not_compared)})", ""]
    if comparison.not_compared:
        lines += ["| run | why |", "|---|---|",
                  *(f"| {n.run} | {n.reason} |" for n in comparison.not_compared)]
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


REPORT_FORMAT = "ucdbench-compare/1"
"""The ``format`` of :func:`report_data`'s JSON (``ucdbench compare --json FILE``)."""
SECTIONS = ((Change.REGRESSION, "Regressions"), (Change.IMPROVEMENT, "Improvements"),
            (Change.UNCOMPARABLE, "In both folders, not comparable"), (Change.ACCEPTED, "Accepted changes"),
            (Change.CHANGED, "Changed, with no better direction"))
"""The report's sections of findings, in its order (unchanged figures are counted, not listed)."""


def _finding_data(finding: Finding) -> dict[str, Any]:
    setting = finding.setting
    return {"run": finding.run, "figure": finding.figure, "kind": finding.kind.value if finding.kind else "run",
            "change": finding.change.value, "base_value": finding.base, "head_value": finding.head, "test": finding.test,
            "figures": list(finding.figures), "keys": list(finding.keys),
            "setting": None if setting is None else {"method": setting.method, "task": setting.task,
                                                     "preset": setting.preset,
                                                     "overrides": json.loads(setting.overrides)}}


def report_data(comparison: Comparison, base: tuple[str, Sequence[dict]], head: tuple[str, Sequence[dict]],
                limits: Thresholds = Thresholds(), acceptances: AcceptanceReport | None = None) -> dict[str, Any]:
    """The report as data (what ``ucdbench compare --json`` writes): the verdict, both folders,
    the rule, every finding but the unchanged ones (those are counted by kind, as in the
    markdown report), what was not compared, and the accepted-changes entries that accepted
    nothing. The site renders its tables from it, and marks the rows of HEAD's runs that the
    gate found regressed or accepted in the history (``keys``)."""
    unchanged = comparison.of(Change.UNCHANGED)
    return {
        "format": REPORT_FORMAT, "verdict": verdict(comparison), "fails_gate": comparison.fails_gate,
        "folders": {role: {"folder": str(folder), "runs": len(records), "commits": commits_of(records)}
                    for role, (folder, records) in (("BASE", base), ("HEAD", head))},
        "rule": rule(limits),
        "findings": [_finding_data(f) for f in comparison.findings if f.change is not Change.UNCHANGED],
        "unchanged": {kind.value: sum(f.kind is kind for f in unchanged) for kind in FigureKind},
        "not_compared": [{"run": n.run, "reason": n.reason} for n in comparison.not_compared],
        "acceptances": None if acceptances is None else {
            "unused": [{"line": a.line, "entry": a.describe(), "reason": a.reason} for a in acceptances.unused],
            "expired": [{"line": a.line, "entry": a.describe(), "expires": str(a.expires)}
                        for a in acceptances.expired]},
    }
