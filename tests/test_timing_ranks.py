"""Tables ranked by a timing give rows whose timings do not differ significantly the same rank."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from ucdbench.api import FigureKind, Metric
from ucdbench.reporting.leaderboard import task_boards, write_leaderboards
from ucdbench.core.stats import tied_ranks, welch_p_value

LATENCY = [asdict(Metric("p50_ms", False, "ms", kind=FigureKind.TIMING)),
           asdict(Metric("samples_per_s", True, "samples/s", kind=FigureKind.TIMING))]


def _timed(key: str, method: str, seed: int, p50_ms: float) -> dict:
    return {"key": key, "status": "ok", "seed": seed, "preset": "smoke", "overrides": {},
            "method": {"name": method}, "hardware": {"kind": "cpu", "name": "Test CPU", "threads": 1},
            "task": {"name": "digits", "primary_metric": "top1",
                     "metrics": [{"name": "top1", "higher_is_better": True, "unit": "%"}]},
            "evaluations": {"accuracy": {"top1": 80.0}, "latency": {"p50_ms": p50_ms, "samples_per_s": 1000 / p50_ms}},
            "figures": {"accuracy": [{"name": "top1", "higher_is_better": True, "unit": "%"}], "latency": LATENCY}}


# two rows whose noisy timings overlap (means 33 and 35 ms, spreads of tens of ms), one clearly slower
TIMINGS = {"fast": (5.0, 33.0, 61.0), "noisy": (10.0, 35.0, 60.0), "slow": (300.0, 302.0, 304.0)}


def _records() -> list[dict]:
    return [_timed(f"{m}{s}", m, s, ms) for m, values in TIMINGS.items() for s, ms in enumerate(values)]


def test_rows_that_do_not_differ_share_a_rank_and_the_next_rank_counts_the_rows_above():
    assert welch_p_value(TIMINGS["fast"], TIMINGS["noisy"]) > 0.05
    assert welch_p_value(TIMINGS["noisy"], TIMINGS["slow"]) < 0.05
    assert tied_ranks(list(TIMINGS.values()), higher_is_better=False) == [1, 1, 3]
    assert tied_ranks(list(TIMINGS.values()), higher_is_better=True) == [2, 2, 1]  # as throughput: one row above
    assert tied_ranks([(1.0, 1.0), (2.0, 2.0), (2.0, 2.0)], higher_is_better=False) == [1, 2, 2]  # no spread: exact
    assert tied_ranks([(5.0,), (1.0, 1.1)], higher_is_better=False) == [1, 1]  # one run: told apart from none


def test_a_table_ranked_by_a_timing_has_a_rank_column_and_says_how_it_was_taken():
    (board,) = task_boards(_records())
    (table,) = [t for s in board.sections for name, t in s.tables if name == "latency"]
    assert [c.header for c in table.columns][:2] == ["rank", "method"]
    assert [(row.cells[0][0], row.cells[1][0]) for row in table.rows] == [("1", "fast"), ("1", "noisy"), ("3", "slow")]
    assert "Welch's t-test" in table.note and "machine lock" in table.note and "exclusively" in table.note
    (accuracy,) = [t for s in board.sections for name, t in s.tables if name == "accuracy"]
    assert "rank" not in [c.header for c in accuracy.columns] and not accuracy.note  # not a timing: no ranks


def test_the_page_shows_the_ranks_and_the_note(tmp_path):
    write_leaderboards(_records(), tmp_path)
    page = (tmp_path / "digits.md").read_text()
    latency = page.split("### latency")[1]
    assert latency.splitlines()[2].startswith("|   rank | method")
    assert "Ranked by `p50_ms`, a timing" in latency


@pytest.mark.parametrize("shift", [0.0, 1.0])
def test_welch_without_spread_is_the_limit_of_the_test(shift):
    assert welch_p_value((3.0, 3.0), (3.0 + shift, 3.0 + shift)) == (1.0 if shift == 0 else 0.0)
