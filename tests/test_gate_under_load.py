"""The regression gate on identical code passes when a heavy CPU load hits the second night: a
load spike slows the samples of the run it hits, and a row's timing regresses only when every
seed's does, each seed timed at its own time (and on the process's work time where the hardware
has a work clock, which a load that time-slices the process does not inflate)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from ucdbench.api import FigureKind
from ucdbench.reporting.compare import Change, compare_records, load_results

SEEDS = ("0", "1", "2")


def _night(results: Path, loaded_seed: str | None = None) -> None:
    """One run per seed, each its own process at its own time; a CPU load (three busy
    processes on a 2-core machine) while ``loaded_seed`` runs."""
    for seed in SEEDS:
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3 if seed == loaded_seed else 0)]
        try:
            run = run_cli("run", "--method", "base", "--task", "digits", "--preset", "smoke", "--seed", seed,
                          "--threads", "1", "--set", "eval.latency.min_iters=30", results=results)
        finally:
            for burner in burners:
                burner.kill()
                burner.wait()
        assert run.returncode == 0, run.stderr


def _wall_p50(folder: Path) -> dict[int, float]:
    records = [json.loads(p.read_text()) for p in (folder / "runs").glob("*.json")]
    return {r["seed"]: statistics.median(r["evaluations"]["latency"]["samples_ms"]) for r in records}


@pytest.mark.ucdbench_e2e
def test_identical_code_passes_the_gate_under_a_synthetic_cpu_load(tmp_path):
    quiet, loaded = tmp_path / "quiet", tmp_path / "loaded"
    _night(quiet)
    _night(loaded, loaded_seed="1")
    print(f"wall p50 by seed (ms): quiet {_wall_p50(quiet)}, loaded {_wall_p50(loaded)}")
    gate = run_cli("compare", str(quiet), str(loaded))
    assert gate.returncode == 0, gate.stdout
    assert "**No regression.**" in gate.stdout
    comparison = compare_records(load_results(quiet, "BASE")[0], load_results(loaded, "HEAD")[0])
    timings = [f for f in comparison.findings if f.kind is FigureKind.TIMING]
    assert len(timings) == 3 and all(f.figure.startswith("latency/work_samples_ms") for f in timings)  # tested
    assert all(f.change is Change.UNCHANGED for f in timings)
