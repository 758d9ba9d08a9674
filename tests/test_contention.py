"""A table that shows a timing says, from each run's per-call samples, whether another process
took the timed cores (process CPU time over wall time × threads), and names the rows that ran
below the quiet share."""

from __future__ import annotations

import pytest

from test_timing_ranks import _timed

from ucdbench.reporting.contention import QUIET_SHARE, cpu_share, timing_conditions
from ucdbench.reporting.leaderboard import task_boards, write_leaderboards


def test_the_share_is_cpu_time_over_wall_time_and_threads_by_hand():
    # 9 + 10 ms of CPU in 10 + 10 ms of wall clock: 19 / 20
    assert cpu_share({"samples_ms": [10.0, 10.0], "work_samples_ms": [9.0, 10.0]}, threads=1) == pytest.approx(0.95)
    # two threads, 30 CPU-ms in 20 wall-ms: 30 / 40
    assert cpu_share({"samples_ms": [10.0, 10.0], "work_samples_ms": [14.0, 16.0]}, threads=2) == pytest.approx(0.75)
    # the backdoor run of session 23 that timed 38 ms for 18 ms of CPU had half a core
    assert cpu_share({"samples_ms": [37.9], "work_samples_ms": [17.6]}, threads=1) == pytest.approx(0.4644, abs=1e-4)


@pytest.mark.parametrize("results", [
    {"samples_ms": [10.0]},  # no work clock (a GPU's events)
    {"p50_ms": 10.0},  # samples not kept
    {"samples_ms": [10.0, 10.0], "work_samples_ms": [9.0]},  # a clock that missed a call
    {"samples_ms": [0.0], "work_samples_ms": [0.0]},
])
def test_no_share_without_both_clocks_for_every_call(results):
    assert cpu_share(results, threads=1) is None


def _with_clocks(record: dict, wall: list[float], work: list[float]) -> dict:
    record["evaluations"]["latency"] |= {"samples_ms": wall, "work_samples_ms": work}
    return record


def test_quiet_timings_say_so_and_a_shared_core_names_its_row():
    quiet = [_with_clocks(_timed(f"q{s}", "quiet", s, 10.0), [10.0, 10.0], [10.0, 9.9]) for s in range(2)]
    busy = [_with_clocks(_timed("b0", "busy", 0, 20.0), [20.0, 20.0], [10.0, 11.0])]
    told = timing_conditions([("quiet", quiet)], ["latency"])
    assert "99.5% over 2 timed runs" in told and "every timing here had its cores to itself" in told
    told = timing_conditions([("quiet", quiet), ("busy", busy)], ["latency"])
    assert "52.5%–99.5% over 3 timed runs" in told and "busy (52.5%)" in told and "quiet (" not in told
    assert f"below {QUIET_SHARE:.0%}" in told
    assert timing_conditions([("quiet", quiet)], []) == "" == timing_conditions([], ["latency"])  # no timed run


def test_records_without_samples_say_the_share_is_not_known():
    told = timing_conditions([("old", [_timed("o", "old", 0, 10.0)])], ["latency"])
    assert told.endswith("not known, the records keep no work clock for these timings.")


def test_the_page_carries_the_share_under_its_timing_table_only(tmp_path):
    records = [_with_clocks(_timed(f"f{s}", "fast", s, 10.0 + s), [10.0, 10.0], [10.0, 10.0]) for s in range(2)]
    records.append(_with_clocks(_timed("s0", "slow", 0, 30.0), [30.0, 30.0], [15.0, 15.0]))
    (board,) = task_boards(records)
    tables = dict(next(iter(board.sections)).tables)
    assert "slow (50.0%)" in tables["latency"].note and "Welch's t-test" in tables["latency"].note
    assert not tables["accuracy"].note
    write_leaderboards(records, tmp_path)
    assert "Timed on shared cores" in (tmp_path / "digits.md").read_text().split("### latency")[1]
