"""Timed phases hold the machine alone: they wait for work in other processes to end, and new
work waits for a queued timed phase (no starvation)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

PHASE = """
import sys, time
from ucdbench.running.machine_lock import timed_phase, work_phase
log, kind, hold = sys.argv[1], sys.argv[2], float(sys.argv[3])
with open(log, "a") as f:
    print(f"{kind} asks {time.time():.6f}", file=f, flush=True)
    with (timed_phase() if kind == "timed" else work_phase()):
        print(f"{kind} holds {time.time():.6f}", file=f, flush=True)
        time.sleep(hold)
        print(f"{kind} releases {time.time():.6f}", file=f, flush=True)
"""


def _phase(tmp_path: Path, log: Path, name: str, kind: str, hold: float) -> subprocess.Popen:
    env = {**os.environ, "UCDBENCH_LOCK_DIR": str(tmp_path / "lock")}
    return subprocess.Popen([sys.executable, "-c", PHASE, str(log.with_name(f"{log.stem}-{name}.log")), kind, str(hold)],
                            env=env)


def _wait_for(path: Path, word: str, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while not (path.exists() and word in path.read_text()):
        assert time.monotonic() < deadline, f"{path} never said {word!r}"
        time.sleep(0.02)


def _events(tmp_path: Path) -> dict[str, float]:
    events = {}
    for log in tmp_path.glob("phases-*.log"):
        name = log.stem.removeprefix("phases-")
        for line in log.read_text().splitlines():
            _, event, stamp = line.split()
            events[f"{name} {event}"] = float(stamp)
    return events


def test_a_timed_phase_waits_for_work_and_queued_timing_holds_back_new_work(tmp_path):
    log = tmp_path / "phases.log"
    fitting = _phase(tmp_path, log, "fit", "work", 1.0)
    _wait_for(tmp_path / "phases-fit.log", "holds")
    timing = _phase(tmp_path, log, "timing", "timed", 0.5)
    _wait_for(tmp_path / "phases-timing.log", "asks")
    time.sleep(0.3)  # the timed phase is queued behind the fit
    later = _phase(tmp_path, log, "later", "work", 0.0)
    other = _phase(tmp_path, log, "other", "work", 0.0)
    for process in (fitting, timing, later, other):
        assert process.wait(timeout=60) == 0
    events = _events(tmp_path)
    assert events["timing holds"] >= events["fit releases"]  # timed alone: not while the fit ran
    assert events["later holds"] >= events["timing releases"]  # new work waited for the queued timing
    assert events["other holds"] >= events["timing releases"]


def test_work_phases_share_the_machine(tmp_path):
    log = tmp_path / "phases.log"
    first = _phase(tmp_path, log, "first", "work", 1.0)
    _wait_for(tmp_path / "phases-first.log", "holds")
    second = _phase(tmp_path, log, "second", "work", 0.0)
    for process in (first, second):
        assert process.wait(timeout=60) == 0
    events = _events(tmp_path)
    assert events["second holds"] < events["first releases"]  # both at once
