"""The accepted-changes file on its own (ucdbench.reporting.accepted): what an entry matches, when
it expires, how it reads in the report, and the message for each mistake a file can hold."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.reporting.accepted import Acceptance, apply_acceptances, load_acceptances
from ucdbench.reporting.compare import Change, Comparison, Finding, RunSetting

LORA = RunSetting("lora", "digits", "small", json.dumps({"rank": 4, "task.noise": 0.2}, sort_keys=True))


def test_an_entry_matches_its_method_task_preset_settings_and_figure():
    entry = Acceptance("lora", "digits", "latency/p50_ms", "why", preset="small", overrides={"rank": 4})
    assert entry.matches(LORA, ["latency/p50_ms"])
    assert entry.matches(LORA, ["accuracy/top1", "latency/p50_ms"])  # any of the finding's figures
    assert not entry.matches(LORA, ["latency/p90_ms"])
    assert not entry.matches(RunSetting("vera", "digits", "small", LORA.overrides), ["latency/p50_ms"])
    assert not entry.matches(RunSetting("lora", "pydocs", "small", LORA.overrides), ["latency/p50_ms"])
    assert not entry.matches(RunSetting("lora", "digits", "smoke", LORA.overrides), ["latency/p50_ms"])
    assert not entry.matches(RunSetting("lora", "digits", "small", json.dumps({"rank": 8})), ["latency/p50_ms"])
    assert not entry.matches(RunSetting("lora", "digits", "small", "{}"), ["latency/p50_ms"])  # rank unset
    # no preset: any; settings it does not name may differ
    assert Acceptance("lora", "digits", "latency/p50_ms", "why").matches(
        RunSetting("lora", "digits", "paper", json.dumps({"rank": 64})), ["latency/p50_ms"])
    # an evaluation's name stands for each of its figures, but no figure for another evaluation's
    latency = Acceptance("lora", "digits", "latency", "why")
    assert latency.matches(LORA, ["latency/p99_ms"]) and not latency.matches(LORA, ["latency-x/p99_ms"])
    assert latency.matches(LORA, ["latency/energy/sample"])  # the evaluation is what precedes the first "/"
    assert not Acceptance("lora", "digits", "p50_ms", "why").matches(LORA, ["latency/p50_ms"])
    assert Acceptance("lora", "digits", "status", "why").matches(LORA, ["status"])


def test_an_entry_expires_after_its_day_not_on_it():
    entry = Acceptance("lora", "digits", "status", "why", expires=dt.date(2027, 1, 31))
    assert not entry.expired(dt.date(2027, 1, 31))
    assert entry.expired(dt.date(2027, 2, 1))
    assert not Acceptance("lora", "digits", "status", "why").expired(dt.date(9999, 12, 31))


def test_an_entry_describes_itself_as_the_report_names_runs():
    assert Acceptance("lora", "digits", "accuracy", "why").describe() == "lora · digits · accuracy"
    assert Acceptance("lora", "digits", "latency/p50_ms", "why", preset="small", overrides={"rank": 4, "alpha": 8}
                      ).describe() == "lora (rank=4, alpha=8) · digits · small · latency/p50_ms"


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accepted-changes.toml"
    path.write_text(text)
    return path


def test_a_file_s_entries_are_read_with_every_key(tmp_path):
    path = _file(tmp_path, (
        '[[accept]]\nmethod = "lora"\ntask = "digits"\nfigure = "status"\nreason = "  reviewed  "\n\n'
        '[[accept]]\nmethod = "vera"\ntask = "pydocs"\npreset = "small"\nset = { rank = 4 }\n'
        'figure = "latency"\nreason = "slower"\nexpires = 2027-01-31\n'))
    assert load_acceptances(str(path)) == [
        Acceptance("lora", "digits", "status", "reviewed", None, {}, None, f"{path}: [[accept]] #1"),
        Acceptance("vera", "pydocs", "latency", "slower", "small", {"rank": 4}, dt.date(2027, 1, 31),
                   f"{path}: [[accept]] #2"),
    ]
    assert load_acceptances(_file(tmp_path, "")) == []  # an empty file accepts nothing


GOOD = {"method": '"lora"', "task": '"digits"', "figure": '"status"', "reason": '"r"'}


def _entry(**changes: str | None) -> str:
    """An [[accept]] entry: GOOD's keys with ``changes`` (None: the key left out)."""
    keys = {**GOOD, **changes}
    return "[[accept]]\n" + "".join(f"{key} = {value}\n" for key, value in keys.items() if value is not None)


@pytest.mark.parametrize("text, message", [
    ("[[accept]\n", "not valid TOML"),
    ("[other]\nx = 1\n[more]\n", "unknown table(s) more, other; the file holds [[accept]] entries"),
    ('accept = "lora"\n', "'accept' must be an array of tables ([[accept]] entries)"),
    (_entry(typo="1", zzz="2"),
     "[[accept]] #1: unknown key(s) typo, zzz; keys: expires, figure, method, preset, reason, set, task"),
    (_entry() + _entry(method="3"), "[[accept]] #2: 'method' is required (a non-empty string)"),
    (_entry(task='"  "'), "[[accept]] #1: 'task' is required (a non-empty string)"),
    (_entry(figure=None), "[[accept]] #1: 'figure' is required (a non-empty string)"),
    (_entry(reason=None),
     "[[accept]] #1: 'reason' is required (a non-empty string); say why the change is accepted, for the reviewers"),
    (_entry(set="4"), "[[accept]] #1: 'set' must be a table of --set overrides, like set = { rank = 4 }"),
    (_entry(expires='"2027-01-31"'), "[[accept]] #1: 'expires' must be a TOML date, like expires = 2027-01-31"),
])
def test_each_mistake_in_the_file_is_a_usage_error_naming_the_entry_and_key(tmp_path, text, message):
    path = _file(tmp_path, text)
    with pytest.raises(UcdbenchError) as error:
        load_acceptances(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    if "[[accept]]" in message:  # the whole message after the entry
        assert str(error.value) == f"{path}: {message}"


def test_a_missing_file_says_what_to_give(tmp_path):
    with pytest.raises(UcdbenchError) as error:
        load_acceptances(tmp_path / "nowhere.toml")
    assert str(error.value) == (f"--accept {tmp_path / 'nowhere.toml'}: no such file; give the accepted-changes file "
                                "(TOML, [[accept]] entries with method, task, figure and reason)")


def _finding(change: Change, setting: RunSetting | None = LORA, figures: tuple[str, ...] = ("latency/p50_ms",),
             test: str = "×1.5") -> Finding:
    return Finding("run", "figure", None, change, "1", "2", test, setting, figures)


def test_applying_turns_each_named_regression_into_an_accepted_change_and_reports_unused_and_expired_entries():
    today = dt.date(2027, 1, 1)
    named = Acceptance("lora", "digits", "latency", "reviewed in #1")
    again = Acceptance("lora", "digits", "latency/p50_ms", "the same change again")  # the first match wins
    unused = Acceptance("vera", "digits", "status", "gone")
    expired = Acceptance("lora", "digits", "latency", "old", expires=dt.date(2026, 12, 31))
    comparison = Comparison([
        _finding(Change.REGRESSION),
        _finding(Change.IMPROVEMENT),  # only regressions are accepted
        _finding(Change.REGRESSION, setting=None),  # a finding about no setting: nothing to match
        _finding(Change.REGRESSION, figures=("accuracy/top1",), test="p = 0.01"),
        _finding(Change.REGRESSION, test="×2"),
    ])
    before = list(comparison.findings)
    report = apply_acceptances(comparison, [expired, named, again, unused], today)
    assert [f.change for f in comparison.findings] == [Change.ACCEPTED, Change.IMPROVEMENT, Change.REGRESSION,
                                                       Change.REGRESSION, Change.ACCEPTED]
    assert comparison.findings[0].test == "×1.5; accepted: reviewed in #1"
    assert comparison.findings[4].test == "×2; accepted: reviewed in #1"
    assert comparison.findings[1:4] == before[1:4]
    assert report.unused == [again, unused] and report.expired == [expired]
