"""The regression gate's findings, one by one (ucdbench.reporting.compare.compare_records, no
command line): each finding's run, figure, kind, verdict, values and test text, as the module's
docstring states them, on hand-made records (those of tests/test_compare.py) whose verdicts are
worked out by hand."""

from __future__ import annotations

import math

import pytest

from test_compare import CPU, TOP1, _night, _record, _samples
from ucdbench.contracts.interfaces import FigureKind, UcdbenchError
from ucdbench.core.stats import slowdown_test
from ucdbench.reporting.compare import (
    Change, Finding, NotCompared, RunSetting, Thresholds, compare_records, hardware_class,
)

SETTING = RunSetting("lora", "digits", "smoke", '{"rank": 4}')
ROW = f"lora (rank=4) · digits · smoke · cpu: Test CPU [{hardware_class({'hardware': CPU})}]"
BYTES = "compression/artifact_bytes"
TOP1_LABEL = "accuracy/top1"


def _keys(seeds, code: str = "c1") -> tuple[str, ...]:
    """The keys of HEAD's runs of those seeds (tests/test_compare.py's records), which a finding names."""
    return tuple(f"{code}-lora-{seed}-Test CPU" for seed in seeds)


def _of(comparison, figure: str) -> list[Finding]:
    return [f for f in comparison.findings if f.figure == figure]


def _exact(base: list[dict], head: list[dict]) -> list[Finding]:
    return _of(compare_records(base, head), BYTES)


def _set(records: list[dict], evaluation: str, name: str, values: dict[int, object]) -> list[dict]:
    for record in records:
        if record["seed"] in values:
            record["evaluations"][evaluation][name] = values[record["seed"]]
    return records


# --------------------------------------------------------------------------------------------
# exact figures
# --------------------------------------------------------------------------------------------


def test_an_equal_exact_figure_is_one_unchanged_finding_naming_every_seed():
    assert _exact(_night("c0"), _night("c1")) == [
        Finding(f"{ROW} · seeds 0, 1, 2", BYTES, FigureKind.EXACT, Change.UNCHANGED, "1,000", "1,000", "equal",
                SETTING, (BYTES,), _keys([0, 1, 2]))]
    # different values on different seeds are each shown once, in seed order
    base = _set(_night("c0"), "compression", "artifact_bytes", {1: 2000, 2: 1000.0})
    head = _set(_night("c1"), "compression", "artifact_bytes", {1: 2000, 2: 1000.0})
    assert [(f.change, f.base, f.head) for f in _exact(base, head)] == [(Change.UNCHANGED, "1,000 / 2,000",
                                                                         "1,000 / 2,000")]


def test_an_exact_figure_that_changed_names_the_seeds_and_which_way():
    smaller = _exact(_night("c0"), _night("c1", {1: {"artifact_bytes": 999}, 2: {"artifact_bytes": 998}}))
    assert smaller == [Finding(f"{ROW} · seeds 1, 2", BYTES, FigureKind.EXACT, Change.REGRESSION, "1,000",
                               "999 / 998", "an exact figure changed (for the better)", SETTING, (BYTES,),
                               _keys([1, 2]))]
    larger = _exact(_night("c0"), _night("c1", {0: {"artifact_bytes": 1001}}))
    assert [(f.run, f.test) for f in larger] == [(f"{ROW} · seed 0", "an exact figure changed (for the worse)")]
    both_ways = _exact(_night("c0"), _night("c1", {0: {"artifact_bytes": 1001}, 1: {"artifact_bytes": 999}}))
    assert [f.test for f in both_ways] == ["an exact figure changed"]


def test_an_exact_figure_of_higher_is_better_or_no_direction():
    def changed(higher: bool | None, value: float) -> str:
        base, head = _night("c0"), _night("c1", {0: {"artifact_bytes": value}})
        for record in (*base, *head):
            record["figures"]["compression"][0]["higher_is_better"] = higher
        return _exact(base, head)[0].test

    assert changed(True, 1001) == "an exact figure changed (for the better)"
    assert changed(True, 999) == "an exact figure changed (for the worse)"
    assert changed(None, 999) == "an exact figure changed"


def test_an_exact_figure_gone_in_head_is_a_change_and_one_new_in_head_is_listed_not_compared():
    head = _night("c1")
    for record in head:
        del record["evaluations"]["compression"]  # HEAD did not measure it
    assert _exact(_night("c0"), head) == [
        Finding(f"{ROW} · seeds 0, 1, 2", BYTES, FigureKind.EXACT, Change.REGRESSION, "1,000", "–",
                "an exact figure changed", SETTING, (BYTES,), _keys([0, 1, 2]))]
    base = _night("c0")
    for record in base[:2]:
        del record["evaluations"]["compression"]
    comparison = compare_records(base, _night("c1"))
    assert NotCompared(f"{ROW} · seeds 0, 1 · {BYTES}", "new in HEAD") in comparison.not_compared
    assert [(f.run, f.change) for f in _of(comparison, BYTES)] == [(f"{ROW} · seed 2", Change.UNCHANGED)]


def test_not_a_number_on_both_sides_is_equal_and_on_one_side_a_change():
    nan = float("nan")
    base = _set(_night("c0"), "compression", "artifact_bytes", {0: nan, 1: nan, 2: 2.5})
    assert [f.change for f in _exact(base, _set(_night("c1"), "compression", "artifact_bytes",
                                                {0: nan, 1: nan, 2: 2.5}))] == [Change.UNCHANGED]
    for head, direction in (({0: 1.0}, ""), ({2: nan}, ""), ({0: None}, ""), ({2: 3.5}, " (for the worse)")):
        changed = _exact(base, _set(_night("c1"), "compression", "artifact_bytes", {0: nan, 1: nan, 2: 2.5, **head}))
        assert [(f.change, f.test) for f in changed] == [(Change.REGRESSION, "an exact figure changed" + direction)]
    # a figure that is no number (a flag, text) is compared for equality, with no direction
    flags = _exact(_set(_night("c0"), "compression", "artifact_bytes", {0: True}),
                   _set(_night("c1"), "compression", "artifact_bytes", {0: False}))
    assert [(f.base, f.head, f.test) for f in flags] == [("True", "False", "an exact figure changed")]


# --------------------------------------------------------------------------------------------
# quality figures
# --------------------------------------------------------------------------------------------


def _t_test_p_of_three(differences: list[float]) -> float:
    """Two-sided paired t-test p with 3 seeds (2 degrees of freedom), where Student's t has the
    closed form P(|T| > t) = 1 − t / √(t² + 2)."""
    mean = sum(differences) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / 2)
    t = abs(mean) / (sd / math.sqrt(3))
    return 1 - t / math.sqrt(t * t + 2)


def test_a_quality_regression_reports_the_means_the_change_and_the_paired_test():
    drops = {0: 3.0, 1: 3.5, 2: 2.5}  # mean −3 on a mean of 82: −3.7%
    head = _night("c1", {s: {"top1": TOP1[s] - drop} for s, drop in drops.items()})
    p = _t_test_p_of_three([-3.0, -3.5, -2.5])
    assert _of(compare_records(_night("c0"), head), TOP1_LABEL) == [
        Finding(f"{ROW} · seeds 0, 1, 2", TOP1_LABEL, FigureKind.QUALITY, Change.REGRESSION, "82", "79",
                f"mean −3 (−3.7%), paired t-test p = {p:.2g}, n = 3", SETTING, (TOP1_LABEL,), _keys([0, 1, 2]))]
    rise = _night("c1", {s: {"top1": TOP1[s] + drop} for s, drop in drops.items()})
    assert [(f.change, f.test) for f in _of(compare_records(_night("c0"), rise), TOP1_LABEL)] == [
        (Change.IMPROVEMENT, f"mean +3 (+3.7%), paired t-test p = {p:.2g}, n = 3")]


def test_the_p_value_printed_is_on_the_side_of_the_threshold_that_the_verdict_is():
    drops = {0: 3.0, 1: 4.4, 2: 1.6}
    p = _t_test_p_of_three([-3.0, -4.4, -1.6])  # 0.06554, which two digits would round up to 0.066
    head = _night("c1", {s: {"top1": TOP1[s] - drop} for s, drop in drops.items()})
    [finding] = _of(compare_records(_night("c0"), head, Thresholds(alpha=0.0656)), TOP1_LABEL)
    assert p < 0.0656 and finding.change is Change.REGRESSION
    printed = float(finding.test.split("paired t-test p = ")[1].split(",")[0])
    assert printed < 0.0656 and abs(printed - p) < 1e-4


def test_an_unchanged_quality_figure_and_a_small_improvement():
    [same] = _of(compare_records(_night("c0"), _night("c1")), TOP1_LABEL)
    assert (same.change, same.base, same.head) == (Change.UNCHANGED, "82", "82")
    assert same.test == "mean +0 (+0%), paired t-test p = 1, n = 3"
    # half a point up on every seed, give or take: an improvement under one unit is still one
    gains = {0: 0.5, 1: 0.6, 2: 0.4}
    head = _night("c1", {s: {"top1": TOP1[s] + gain} for s, gain in gains.items()})
    [finding] = _of(compare_records(_night("c0"), head, Thresholds(min_effect=0.001)), TOP1_LABEL)
    p = _t_test_p_of_three([0.5, 0.6, 0.4])
    assert (finding.change, finding.test) == (Change.IMPROVEMENT, f"mean +0.5 (+0.61%), paired t-test p = {p:.2g}, n = 3")


def test_a_quality_figure_with_no_better_direction_that_moved_is_changed():
    base, head = _night("c0"), _night("c1", {s: {"top1": TOP1[s] - d} for s, d in ((0, 3.0), (1, 3.5), (2, 2.5))})
    for record in (*base, *head):
        record["figures"]["accuracy"][0]["higher_is_better"] = None
    assert [f.change for f in _of(compare_records(base, head), TOP1_LABEL)] == [Change.CHANGED]


def test_a_quality_change_of_exactly_the_minimum_effect_counts():
    # every seed 4 lower on a mean of 80 (p = 0: no spread): −4/80 = −5%
    base = [_record(s, top1=v) for s, v in ((0, 80.0), (1, 80.0), (2, 80.0))]
    head = [_record(s, code="c1", top1=76.0) for s in (0, 1, 2)]
    limits = Thresholds(min_effect=0.05)
    [finding] = _of(compare_records(base, head, limits), TOP1_LABEL)
    assert finding.change is Change.REGRESSION and finding.test == "mean −4 (−5%), paired t-test p < 0.001, n = 3"
    [finding] = _of(compare_records(base, head, Thresholds(min_effect=0.0501)), TOP1_LABEL)
    assert finding.change is Change.UNCHANGED


def test_a_quality_figure_of_a_single_shared_seed_is_not_compared_and_says_why():
    base, head = _night("c0")[:1], _night("c1")[:1]
    comparison = compare_records(base, head)
    assert _of(comparison, TOP1_LABEL) == []
    assert NotCompared(f"{ROW} · {TOP1_LABEL}", "a quality figure is compared across seeds, and 1 seed(s) have it in "
                       "both folders (2 or more needed)") in comparison.not_compared


def test_a_quality_figure_only_one_side_measured_is_not_compared_and_none_on_either_is_not_mentioned():
    head = _night("c1")
    for record in head:
        record["evaluations"]["accuracy"] = {}
    comparison = compare_records(_night("c0"), head)
    assert _of(comparison, TOP1_LABEL) == []
    assert [n.reason for n in comparison.not_compared if n.run.endswith(TOP1_LABEL)] == [
        "a quality figure is compared across seeds, and 0 seed(s) have it in both folders (2 or more needed)"]
    base = _night("c0")
    for record in (*base, *head):
        record["evaluations"].pop("accuracy")
    assert not [n for n in compare_records(base, head).not_compared if n.run.endswith(TOP1_LABEL)]


def test_a_change_from_zero_is_infinite():
    base = [_record(s, top1=0.0) for s in (0, 1, 2)]
    head = [_record(s, code="c1", top1=v) for s, v in ((0, 1.0), (1, 2.0), (2, 3.0))]
    [finding] = _of(compare_records(base, head), TOP1_LABEL)
    assert finding.test.startswith("mean +2 (∞), paired t-test p = ")


# --------------------------------------------------------------------------------------------
# timings
# --------------------------------------------------------------------------------------------

TIMING = "latency/samples_ms (p50_ms)"


def test_a_slowdown_on_every_seed_is_a_regression_of_each_seed_s_run():
    slower = _night("c1", {s: {"latency_ms": 15.0} for s in TOP1})
    findings = _of(compare_records(_night("c0"), slower), TIMING)
    expected = [Finding(f"{ROW} · seed {s}", TIMING, FigureKind.TIMING, Change.REGRESSION, "10 ms", "15 ms",
                        f"{slowdown_test(_samples(10.0, s), _samples(15.0, s)).describe()}, 30 vs 30 samples of "
                        "wall time", SETTING, ("latency/p50_ms",), _keys([s])) for s in TOP1]
    assert findings == expected
    faster = _of(compare_records(slower, _night("c0")), TIMING)
    assert [f.change for f in faster] == [Change.IMPROVEMENT] * 3


def test_timing_figures_without_raw_samples_on_one_side_are_not_compared_and_say_which_side():
    base, head = _night("c0"), _night("c1")
    for record in (*base[:1], *head[:2]):
        record["evaluations"]["latency"].pop("samples_ms")
    comparison = compare_records(base, head)
    reasons = {n.run: n.reason for n in comparison.not_compared}
    why = "timing figures are compared on raw samples, and {} recorded none (samples_ms: runs of a ucdbench that " \
          "did not keep them)"
    assert reasons[f"{ROW} · seed 0 · latency (p50_ms)"] == why.format("BASE and HEAD")
    assert reasons[f"{ROW} · seed 1 · latency (p50_ms)"] == why.format("HEAD")
    assert [f.run for f in _of(comparison, TIMING)] == [f"{ROW} · seed 2"]  # the seed both kept goes on
    # a HEAD without the evaluation at all: its samples are missing too
    for record in head:
        del record["evaluations"]["latency"]
    assert why.format("HEAD") in {n.reason for n in compare_records(_night("c0"), head).not_compared}


def test_too_few_samples_are_untestable_unless_the_threshold_lets_a_test_reach_it():
    def night(code: str, ms: float) -> list[dict]:
        records = _night(code, {s: {"latency_ms": ms} for s in TOP1})
        for record in records:
            record["evaluations"]["latency"]["samples_ms"] = [ms, ms * 1.01, ms * 1.02]
        return records

    comparison = compare_records(night("c0", 10.0), night("c1", 20.0))
    assert _of(comparison, TIMING) == []
    untestable = slowdown_test([10.0, 10.1, 10.2], [20.0, 20.2, 20.4]).describe()
    assert NotCompared(f"{ROW} · seed 0 · latency (p50_ms)", f"{untestable}; 3 vs 3 samples") in comparison.not_compared
    # with 3 a side, Mann–Whitney U's smallest p is 2 / C(6, 3) = 0.1: a threshold above it tests
    lenient = compare_records(night("c0", 10.0), night("c1", 20.0), Thresholds(slowdown_alpha=0.2))
    assert [f.change for f in _of(lenient, TIMING)] == [Change.REGRESSION] * 3


@pytest.mark.parametrize("limits, message", [
    (Thresholds(alpha=0), "--alpha 0: a p-value threshold lies between 0 and 1 (for example 0.05)"),
    (Thresholds(alpha=1), "--alpha 1: a p-value threshold"),
    (Thresholds(slowdown_alpha=1.5), "slowdown_alpha 1.5: a p-value threshold"),
    (Thresholds(min_effect=-0.01), "--min-effect -0.01: a relative change is ≥ 0 (0.01 is 1%)"),
    (Thresholds(slowdown_factor=1), "--slowdown-factor 1: a slowdown factor is > 1 (1.1 is 10%)"),
])
def test_thresholds_out_of_range_are_usage_errors(limits, message):
    with pytest.raises(UcdbenchError) as error:
        compare_records(_night("c0"), _night("c1"), limits)
    assert str(error.value).startswith(message)


def test_thresholds_on_their_edges_are_accepted():
    for limits in (Thresholds(alpha=0.999, min_effect=0.0, slowdown_factor=1.0001, slowdown_alpha=1e-9),):
        compare_records(_night("c0"), _night("c1"), limits)


# --------------------------------------------------------------------------------------------
# matching runs
# --------------------------------------------------------------------------------------------


def test_runs_are_named_by_their_setting_task_settings_apart_and_by_their_declared_hardware_class():
    assert RunSetting("lora", "digits", "small", '{"alpha": 8, "rank": 4, "task.noise": 0.2, "task.size": 8}'
                      ).label() == "lora (alpha=8, rank=4) · digits (noise=0.2, size=8) · small"
    assert RunSetting("lora", "digits", "small", '{"task.noise": 0.2}').label() == "lora · digits (noise=0.2) · small"
    assert RunSetting("lora", "digits", "small", "{}").label() == "lora · digits · small"
    declared = {"kind": "cpu", "name": "Test CPU", "threads": 1, "flags": "avx"}
    base = [_record(s) | {"hardware_class": declared} for s in TOP1]
    head = [_record(s, code="c1") | {"hardware_class": declared} for s in TOP1]
    [finding] = _of(compare_records(base, head), BYTES)
    assert finding.run == (f"lora (rank=4) · digits · smoke · cpu: Test CPU, threads 1, flags avx "
                           f"[{hardware_class({'hardware_class': declared})}] · seeds 0, 1, 2")


def test_a_record_without_a_declared_class_is_classed_by_its_hardware_kind_and_name():
    assert hardware_class({"hardware": {"kind": "cpu", "name": "A", "cores": 2}}) == \
        hardware_class({"hardware": {"kind": "cpu", "name": "A", "cores": 64}})
    assert hardware_class({"hardware": {"kind": "cpu", "name": "A"}}) != hardware_class({"hardware": {"kind": "cpu",
                                                                                                      "name": "B"}})
    assert hardware_class({"hardware": {"kind": "cpu", "name": "A"}}) == \
        hardware_class({"hardware_class": {"name": "A", "kind": "cpu"}})  # the same class, declared
    assert hardware_class({}) == hardware_class({"hardware": None}) == hardware_class({"hardware": {}})
    assert len(hardware_class({})) == 12


def test_the_latest_of_repeated_runs_is_the_one_compared():
    stale = _record(0, top1=10.0, artifact_bytes=5) | {"finished_at": "2026-01-01T00:00:00"}
    fresh = _record(0, artifact_bytes=1000) | {"finished_at": "2026-01-02T00:00:00"}
    started = _record(1, artifact_bytes=7) | {"finished_at": None, "started_at": "2026-01-01T00:00:00"}
    later = _record(1, artifact_bytes=1000) | {"started_at": "2026-01-03T00:00:00"}
    comparison = compare_records([fresh, stale, later, started], _night("c1")[:2])
    assert [(f.change, f.base) for f in _of(comparison, BYTES)] == [(Change.UNCHANGED, "1,000")]


def test_runs_match_by_method_task_preset_and_settings_in_a_stable_order():
    def run(method: str, task: str, preset: str, rank: int, code: str) -> dict:
        record = _record(0, method=method, code=code)
        record.update(task={"name": task}, preset=preset, overrides={"rank": rank})
        return record

    settings = [("vera", "digits", "smoke", 4), ("lora", "pydocs", "smoke", 4), ("lora", "digits", "small", 4),
                ("lora", "digits", "smoke", 8), ("lora", "digits", "smoke", 4), ("full-ft", "digits", "smoke", 4)]
    comparison = compare_records([run(*s, "c0") for s in settings], [run(*s, "c1") for s in reversed(settings)])
    order = [f.setting for f in _of(comparison, BYTES)]
    assert order == [  # by task, preset, method, settings
        RunSetting(m, t, p, f'{{"rank": {r}}}') for m, t, p, r in
        [("lora", "digits", "small", 4), ("full-ft", "digits", "smoke", 4), ("lora", "digits", "smoke", 4),
         ("lora", "digits", "smoke", 8), ("vera", "digits", "smoke", 4), ("lora", "pydocs", "smoke", 4)]]
    assert all(f.change is Change.UNCHANGED for f in comparison.findings)


def test_seeds_and_statuses_one_side_has_alone():
    head = _night("c1")[1:] + [_record(3, code="c1", top1=80.0)]
    head[0] = head[0] | {"status": "failed", "error": None}  # seed 1: now failing, no message
    base = _night("c0")
    base[2] = base[2] | {"status": "failed", "error": "OOM"}  # seed 2: fixed in HEAD
    comparison = compare_records(base, head)
    assert NotCompared(f"{ROW} · seed 0", "only in BASE") in comparison.not_compared
    assert NotCompared(f"{ROW} · seed 3", "only in HEAD") in comparison.not_compared
    status = [f for f in comparison.findings if f.figure == "status"]
    assert status == [
        Finding(f"{ROW} · seed 1", "status", None, Change.REGRESSION, "ok", "failed", "failed", SETTING, ("status",),
                _keys([1])),
        Finding(f"{ROW} · seed 2", "status", None, Change.IMPROVEMENT, "failed", "ok", "succeeds now", SETTING,
                ("status",), _keys([2]))]
    assert comparison.regressed and comparison.fails_gate
    # nothing ok on both sides: no figure is compared
    assert {f.figure for f in comparison.findings} == {"status"}
    both_failed = compare_records([base[2]], [_record(2, code="c1") | {"status": "failed"}])
    assert both_failed.findings == [] and both_failed.not_compared == [
        NotCompared(f"{ROW} · seed 2", "status failed in BASE, failed in HEAD")]
    assert both_failed.compared_nothing and both_failed.fails_gate and not both_failed.regressed


def test_a_run_on_another_hardware_class_alone_is_only_in_one_folder_and_one_on_both_is_uncomparable():
    gpu = {"kind": "cuda", "device": "cuda:0", "name": "Test GPU"}
    gpu_row = f"lora (rank=4) · digits · smoke · cuda: Test GPU [{hardware_class({'hardware': gpu})}]"
    mixed = compare_records(_night("c0"), _night("c1") + [_record(0, code="c1", hardware=gpu)])
    assert NotCompared(gpu_row, "only in HEAD") in mixed.not_compared and not mixed.fails_gate
    moved = compare_records(_night("c0"), [_record(s, code="c1", hardware=gpu) for s in TOP1])
    assert moved.findings == [Finding(
        ROW, "hardware", None, Change.UNCOMPARABLE, ROW.split(" · ")[-1], gpu_row.split(" · ")[-1],
        "both folders ran it, on hardware of different classes, so nothing of it was compared; rerun one side on the "
        "other's hardware class, or accept it (lora (rank=4) · digits · smoke)", SETTING, ("hardware",))]
    assert moved.fails_gate and moved.compared_nothing and not moved.regressed
    back = compare_records([_record(s, hardware=gpu) for s in TOP1], _night("c1"))
    assert [f.run for f in back.findings] == [gpu_row]  # reported once, from BASE's side


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------


def _finding(change: Change, kind: FigureKind | None = FigureKind.QUALITY, test: str = "p = 0.01") -> Finding:
    return Finding("lora · digits · smoke · cpu", "accuracy/top1", kind, change, "80", "79", test, SETTING,
                   (TOP1_LABEL,))


def test_the_report_states_the_rule_the_verdict_and_every_section():
    from ucdbench.reporting.accepted import Acceptance, AcceptanceReport
    from ucdbench.reporting.compare import Comparison, markdown
    import datetime as dt

    comparison = Comparison(
        [_finding(Change.REGRESSION, test="mean −1\n(a | b)"), _finding(Change.ACCEPTED, None, "slower; accepted: ok"),
         _finding(Change.CHANGED), _finding(Change.UNCHANGED, FigureKind.EXACT), _finding(Change.UNCHANGED),
         _finding(Change.UNCHANGED), _finding(Change.UNCHANGED, FigureKind.TIMING)],
        [NotCompared("vera · seed 1", "only in HEAD")])
    base = [{"environment": {"git_commit": "b2"}}, {"environment": {"git_commit": "a1"}}, {}]
    head = [{"environment": {"git_commit": "h1"}}]
    unused = Acceptance("vera", "digits", "status", "gone", line="f.toml: [[accept]] #2")
    expired = Acceptance("lora", "digits", "accuracy", "once", expires=dt.date(2001, 1, 1), line="f.toml: [[accept]] #3")
    report = markdown(comparison, ("night-1", base), ("night-2", head), Thresholds(0.01, 0.02, 1.25, 0.001),
                      AcceptanceReport([unused], [expired]))
    row = "| lora · digits · smoke · cpu | accuracy/top1 | {} | 80 | 79 | {} |"
    table = "| run | figure | kind | BASE | HEAD | test |\n|---|---|---|---|---|---|\n"
    assert report == (
        "# ucdbench compare\n\n"
        "BASE `night-1`: 3 runs of `a1`, `b2`, `unknown`. HEAD `night-2`: 1 runs of `h1`.\n\n"
        "Runs are matched by method, task, preset, seed, settings and hardware fingerprint, and compared only on the "
        "same hardware. Exact figures must be equal. A quality figure changes when a paired t-test across the seeds "
        "both have gives p < 0.01 and its mean moves by at least 2% of BASE's. A timing changes when the median of "
        "its raw samples moves by more than ×1.25 and its samples differ (a two-sided Mann–Whitney U test p < 0.001, "
        "or with few samples the 99% intervals of the medians apart; with fewer than 8 a side it is untestable).\n\n"
        "**1 regression.**\n\n"
        "## Regressions (1)\n\n" + table + row.format("quality", "mean −1 (a \\| b)") + "\n\n"
        "## Improvements (0)\n\nNone.\n\n"
        "## Accepted changes (1)\n\n" + table + row.format("run", "slower; accepted: ok") + "\n\n"
        "Entries of the accepted-changes file that accepted nothing (remove them once their change has become the "
        "baseline):\n\n"
        "- f.toml: [[accept]] #2: vera · digits · status — gone\n"
        "- f.toml: [[accept]] #3: lora · digits · accuracy — expired 2001-01-01\n\n"
        "## Changed, with no better direction (1)\n\n" + table + row.format("quality", "p = 0.01") + "\n\n"
        "## Unchanged\n\n"
        "- exact: 1 figures equal on every seed\n"
        "- quality: 2 figures within noise\n"
        "- timing: 1 runs' raw samples within the rule\n\n"
        "## Not compared (1)\n\n"
        "| run | why |\n|---|---|\n| vera · seed 1 | only in HEAD |\n")


def test_the_report_s_verdict_when_no_regression_and_when_nothing_could_be_compared():
    from ucdbench.reporting.compare import Comparison, markdown

    def verdict(comparison: Comparison) -> str:
        return markdown(comparison, ("b", []), ("h", [])).split("\n\n")[3]

    assert verdict(Comparison([_finding(Change.REGRESSION), _finding(Change.REGRESSION)])) == "**2 regressions.**"
    uncomparable = _finding(Change.UNCOMPARABLE, None, "other hardware")
    assert verdict(Comparison([uncomparable])) == "**1 run could not be compared: the gate fails.**"
    assert verdict(Comparison([uncomparable] * 2)) == "**2 runs could not be compared: the gate fails.**"
    assert verdict(Comparison()) == "**Nothing was compared: the gate fails.**"
    assert verdict(Comparison([_finding(Change.IMPROVEMENT)])) == "**No regression.**"
    report = markdown(Comparison([uncomparable]), ("b", []), ("h", []))
    assert "## In both folders, not comparable (1)\n\n| run | figure | kind | BASE | HEAD | test |\n" in report
    assert "| lora · digits · smoke · cpu | accuracy/top1 | run | 80 | 79 | other hardware |\n\n" in report
    assert "Nothing could be compared: no run of HEAD matches one of BASE on the same hardware class.\n\n" in report
    assert report.endswith("## Not compared (0)\n\nNone.\n")
    assert "## Accepted changes" not in report and "## Changed" not in report and "Entries of" not in report
    improved = markdown(Comparison([_finding(Change.IMPROVEMENT)]), ("b", []), ("h", []))
    assert "## Improvements (1)\n\n| run | figure | kind | BASE | HEAD | test |\n" in improved
    assert "## Regressions (0)\n\nNone.\n\n" in improved and "Nothing could be compared" not in improved
    assert "## In both folders" not in improved


def test_a_results_folder_that_is_none_or_holds_no_records_is_a_usage_error(tmp_path):
    from ucdbench.reporting.compare import load_results

    with pytest.raises(UcdbenchError) as error:
        load_results(tmp_path / "nowhere", "BASE")
    assert str(error.value) == (f"BASE {tmp_path / 'nowhere'} is not a folder; give a results folder (the --results "
                                "of `ucdbench run`, holding runs/)")
    (tmp_path / "runs").mkdir()
    with pytest.raises(UcdbenchError) as error:
        load_results(tmp_path, "HEAD")
    assert str(error.value) == (f"HEAD {tmp_path} holds no run records ({tmp_path / 'runs'}/*.json); is it a results "
                                "folder?")
    (tmp_path / "runs" / "torn.json").write_text("{")
    with pytest.raises(UcdbenchError) as error:
        load_results(tmp_path, "HEAD")
    assert "(" + str(tmp_path / "runs") + "/*.json: 1 unreadable); is it a results folder?" in str(error.value)


def test_runs_match_whatever_the_order_of_their_settings_and_a_run_without_a_seed_is_seed_0():
    base, head = _night("c0"), _night("c1")
    for record in base:
        record["overrides"] = {"rank": 4, "alpha": 8}
    for record in head:
        record["overrides"] = {"alpha": 8, "rank": 4}
    del base[0]["seed"], head[0]["seed"]
    comparison = compare_records(base, head)
    assert comparison.not_compared == []
    [finding] = _of(comparison, BYTES)
    assert finding.run.endswith("· seeds 0, 1, 2") and finding.setting.overrides == '{"alpha": 8, "rank": 4}'


def test_a_run_with_a_time_outranks_one_without_and_hardware_without_a_name_is_shown_as_unknown():
    untimed = _record(0, artifact_bytes=5)
    timed = _record(0) | {"started_at": "2026-01-01T00:00:00"}
    assert [f.base for f in _exact([timed, untimed], _night("c1")[:1])] == ["1,000"]
    base, head = _night("c0"), _night("c1")
    for record in (*base, *head):
        record["hardware"] = {"device": "cpu"}
    [finding] = _of(compare_records(base, head), BYTES)
    assert f"· ?: ? [{hardware_class({'hardware': {}})}] · seeds 0, 1, 2" in finding.run


def test_two_timing_figures_of_one_evaluation_are_named_together_and_a_seed_with_few_samples_is_skipped_alone():
    base, head = _night("c0"), _night("c1", {s: {"latency_ms": 15.0} for s in TOP1})
    for record in (*base, *head):
        record["figures"]["latency"].append({"name": "p90_ms", "higher_is_better": False, "kind": "timing"})
    for record in (base[0], head[0]):
        record["evaluations"]["latency"]["samples_ms"] = record["evaluations"]["latency"]["samples_ms"][:3]
    comparison = compare_records(base, head)
    assert [(f.run, f.change) for f in _of(comparison, "latency/samples_ms (p50_ms, p90_ms)")] == [
        (f"{ROW} · seed 1", Change.REGRESSION), (f"{ROW} · seed 2", Change.REGRESSION)]
    assert [f.figures for f in _of(comparison, "latency/samples_ms (p50_ms, p90_ms)")] == [
        ("latency/p50_ms", "latency/p90_ms")] * 2
    assert [n.run for n in comparison.not_compared] == [f"{ROW} · seed 0 · latency (p50_ms, p90_ms)"]
    for record in base:  # BASE without the evaluation at all
        del record["evaluations"]["latency"]
    assert [n.run for n in compare_records(base, head).not_compared] == [
        f"{ROW} · seed {s} · latency (p50_ms, p90_ms)" for s in TOP1]


def test_a_setting_only_base_ran_is_listed_and_a_run_moved_to_two_other_classes_names_both():
    comparison = compare_records(_night("c0") + [_record(0, method="vera", top1=50.0)], _night("c1"))
    vera = ROW.replace("lora (rank=4)", "vera (rank=4)")
    assert comparison.not_compared == [NotCompared(vera, "only in BASE")] and not comparison.fails_gate
    gpus = [{"kind": "cuda", "device": "cuda:0", "name": name} for name in ("B", "A")]
    moved = compare_records(_night("c0"), [_record(s, code="c1", hardware=gpus[s % 2]) for s in TOP1])
    [finding] = moved.findings
    assert finding.head == "; ".join(f"cuda: {g['name']} [{hardware_class({'hardware': g})}]" for g in gpus[::-1])
    assert moved.not_compared == []  # HEAD's runs elsewhere are the same finding, not runs only HEAD has


def test_the_report_lists_accepted_changes_when_any_and_says_none_when_a_file_accepted_nothing():
    from ucdbench.reporting.accepted import AcceptanceReport
    from ucdbench.reporting.compare import Comparison, markdown

    accepted = markdown(Comparison([_finding(Change.ACCEPTED)]), ("b", []), ("h", []))
    assert "## Accepted changes (1)\n\n| run | figure | kind | BASE | HEAD | test |\n" in accepted
    empty = markdown(Comparison([_finding(Change.IMPROVEMENT)]), ("b", []), ("h", []), acceptances=AcceptanceReport([], []))
    assert "## Accepted changes (0)\n\nNone.\n\n## Unchanged" in empty
