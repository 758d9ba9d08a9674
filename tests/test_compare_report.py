"""The gate's report as data (``ucdbench compare --json``): its verdict, both folders and their
commits, the rule with the thresholds in force, every finding but the unchanged ones (counted by
kind), what was not compared, the accepted-changes entries that accepted nothing, and the run
keys a finding names. Built from findings made by hand, no folder read: fast enough for a
mutation campaign of these functions (docs/development.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ucdbench.contracts.interfaces import FigureKind
from ucdbench.reporting.accepted import Acceptance, AcceptanceReport
from ucdbench.reporting.compare import (
    Change, Comparison, Finding, NotCompared, RunSetting, Thresholds, _keys, commits_of, report_data, rule, verdict,
)

SETTING = RunSetting("lora", "digits", "smoke", '{"rank": 4, "task.width": 8}')
RUN = "lora · digits · smoke · cpu"


def finding(change: Change, kind: FigureKind | None = FigureKind.QUALITY, *, setting=SETTING, keys=("k1",)) -> Finding:
    return Finding(RUN, "accuracy/top1", kind, change, "80", "79", "p = 0.01", setting, ("accuracy/top1",), keys)


def test_the_verdict_names_regressions_then_uncomparable_runs_then_nothing_compared():
    regression, uncomparable, unchanged = finding(Change.REGRESSION), finding(Change.UNCOMPARABLE), finding(Change.UNCHANGED)
    assert verdict(Comparison([regression])) == "1 regression."
    assert verdict(Comparison([regression, regression, uncomparable])) == "2 regressions."
    assert verdict(Comparison([uncomparable, unchanged])) == "1 run could not be compared: the gate fails."
    assert verdict(Comparison([uncomparable, uncomparable])) == "2 runs could not be compared: the gate fails."
    assert verdict(Comparison([], [NotCompared("vera · seed 0", "only in HEAD")])) == "Nothing was compared: the gate fails."
    assert verdict(Comparison([unchanged, finding(Change.IMPROVEMENT), finding(Change.ACCEPTED)])) == "No regression."


def test_the_commits_are_each_named_once_in_order_unknown_where_a_record_names_none():
    records = [{"environment": {"git_commit": "b2"}}, {"environment": {"git_commit": "a1"}},
               {"environment": {"git_commit": "b2"}}, {}, {"environment": None}, {"environment": {"git_commit": None}},
               {"environment": {"git_commit": ""}}]
    assert commits_of(records) == ["a1", "b2", "unknown"]
    assert commits_of([{"environment": {"git_commit": "c3"}}]) == ["c3"]
    assert commits_of([]) == []


def test_the_rule_states_the_thresholds_in_force():
    assert rule(Thresholds(0.01, 0.02, 1.25, 0.001)) == (
        "Runs are matched by method, task, preset, seed, settings and hardware fingerprint, and compared only on the "
        "same hardware. Exact figures must be equal. A quality figure changes when a paired t-test across the seeds "
        "both have gives p < 0.01 and its mean moves by at least 2% of BASE's. A timing changes when the median of "
        "its raw samples moves by more than ×1.25 and its samples differ (a two-sided Mann–Whitney U test p < 0.001, "
        "or with few samples the 99% intervals of the medians apart; with fewer than 8 a side it is untestable).")


def test_a_finding_s_keys_are_those_of_its_seeds_runs_in_the_seeds_order():
    runs = {0: {"key": "k0"}, 1: {"key": "k1"}, 2: {"key": "k2"}}
    assert _keys(runs, [2, 0]) == ("k2", "k0")
    assert _keys(runs, []) == ()


def test_the_report_data_holds_every_section_of_the_report():
    comparison = Comparison(
        [finding(Change.REGRESSION, keys=("h1", "h2")), finding(Change.UNCHANGED, FigureKind.EXACT),
         finding(Change.ACCEPTED, None, setting=None, keys=()), finding(Change.UNCHANGED),
         finding(Change.UNCHANGED, FigureKind.TIMING), finding(Change.UNCHANGED), finding(Change.UNCHANGED, None),
         finding(Change.CHANGED, FigureKind.TIMING)],
        [NotCompared("vera · seed 1", "only in HEAD")])
    base = [{"environment": {"git_commit": "b2"}}, {"environment": {"git_commit": "a1"}}, {}]
    head = [{"environment": {"git_commit": "h1"}}]
    unused = Acceptance("vera", "digits", "status", "gone", line="f.toml: [[accept]] #2")
    expired = Acceptance("lora", "digits", "accuracy", "once", preset="smoke", overrides={"rank": 4},
                         expires=dt.date(2001, 2, 3), line="f.toml: [[accept]] #3")
    limits = Thresholds(0.01, 0.02, 1.25, 0.001)
    data = report_data(comparison, (Path("night-1"), base), ("night-2", head), limits, AcceptanceReport([unused], [expired]))

    def shown(change, kind, setting, keys):
        return {"run": RUN, "figure": "accuracy/top1", "kind": kind, "change": change, "base_value": "80", "head_value": "79",
                "test": "p = 0.01", "figures": ["accuracy/top1"], "keys": keys, "setting": setting}

    lora = {"method": "lora", "task": "digits", "preset": "smoke", "overrides": {"rank": 4, "task.width": 8}}
    assert data == {
        "format": "ucdbench-compare/1", "verdict": "1 regression.", "fails_gate": True,
        "folders": {"BASE": {"folder": "night-1", "runs": 3, "commits": ["a1", "b2", "unknown"]},
                    "HEAD": {"folder": "night-2", "runs": 1, "commits": ["h1"]}},
        "rule": rule(limits),
        # in the comparison's order, the unchanged left out; a finding about a whole run has kind "run"
        "findings": [shown("regression", "quality", lora, ["h1", "h2"]), shown("accepted", "run", None, []),
                     shown("changed", "timing", lora, ["k1"])],
        "unchanged": {"exact": 1, "quality": 2, "timing": 1},  # the unchanged finding of no kind is in no count
        "not_compared": [{"run": "vera · seed 1", "reason": "only in HEAD"}],
        "acceptances": {
            "unused": [{"line": "f.toml: [[accept]] #2", "entry": "vera · digits · status", "reason": "gone"}],
            "expired": [{"line": "f.toml: [[accept]] #3", "entry": "lora (rank=4) · digits · smoke · accuracy",
                         "expires": "2001-02-03"}]},
    }
    assert "p < 0.01" in data["rule"] and "×1.25" in data["rule"]  # the thresholds given, not the defaults


def test_without_an_accepted_changes_file_the_report_data_says_so_and_passes_a_clean_gate():
    data = report_data(Comparison([finding(Change.UNCHANGED)]), ("a", []), ("b", []))
    assert data["acceptances"] is None and data["fails_gate"] is False and data["verdict"] == "No regression."
    assert data["findings"] == [] and data["not_compared"] == []
    assert data["folders"] == {"BASE": {"folder": "a", "runs": 0, "commits": []},
                               "HEAD": {"folder": "b", "runs": 0, "commits": []}}
    assert data["rule"] == rule(Thresholds())
    empty = report_data(Comparison([finding(Change.UNCHANGED)]), ("a", []), ("b", []),
                        acceptances=AcceptanceReport([], []))
    assert empty["acceptances"] == {"unused": [], "expired": []}
