"""``ucdbench compare`` on hand-made results folders: what counts as a regression, and what
cannot be compared."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest

from conftest import run_cli
from ucdbench.cli import main
from ucdbench.reporting.compare import hardware_class
from ucdbench.running.store import SCHEMA_VERSION, RunStore

CPU = {"kind": "cpu", "device": "cpu", "name": "Test CPU", "cores": 2, "threads": 1}
FIGURES = {
    "accuracy": [{"name": "top1", "higher_is_better": True, "unit": "%", "kind": "quality"}],
    "compression": [{"name": "artifact_bytes", "higher_is_better": False, "unit": "B", "kind": "exact"}],
    "latency": [{"name": "p50_ms", "higher_is_better": False, "unit": "ms", "kind": "timing"}],
}
TOP1 = {0: 80.0, 1: 84.0, 2: 82.0}


def _samples(median_ms: float, seed: int) -> list[float]:
    """30 timings spread ±2% around ``median_ms``, in a seeded order."""
    values = [median_ms * (0.98 + 0.04 * i / 29) for i in range(30)]
    random.Random(seed).shuffle(values)
    return values


def _record(seed: int, *, method: str = "lora", top1: float | None = None, artifact_bytes: int = 1000,
            latency_ms: float = 10.0, hardware: dict | None = None, code: str = "c0") -> dict:
    return {
        "schema": SCHEMA_VERSION, "key": f"{code}-{method}-{seed}-{(hardware or CPU)['name']}", "status": "ok",
        "error": None, "method": {"name": method}, "task": {"name": "digits", "primary_metric": "top1"},
        "preset": "smoke", "seed": seed, "overrides": {"rank": 4}, "hardware": hardware or CPU, "code": code,
        "evaluations": {"accuracy": {"top1": TOP1[seed] if top1 is None else top1},
                        "compression": {"artifact_bytes": artifact_bytes},
                        "latency": {"p50_ms": latency_ms, "samples_ms": _samples(latency_ms, seed)}},
        "figures": copy.deepcopy(FIGURES), "environment": {"git_commit": code},
    }


def _folder(path: Path, records: list[dict]) -> Path:
    store = RunStore(path)
    for record in records:
        store.write(record)
    return path


def _compare(tmp_path: Path, base: list[dict], head: list[dict], capsys, *options: str) -> tuple[int, str]:
    status = main(["compare", str(_folder(tmp_path / "base", base)), str(_folder(tmp_path / "head", head)), *options])
    return status, capsys.readouterr().out


def _night(code: str, changes: dict[int, dict] | None = None) -> list[dict]:
    """Three seeds of one setting; ``changes``: per seed, what differs from the default record."""
    return [_record(seed, code=code, **(changes or {}).get(seed, {})) for seed in TOP1]


def test_identical_nights_pass_with_everything_counted_as_unchanged(tmp_path, capsys):
    status, report = _compare(tmp_path, _night("c0"), _night("c1"), capsys)  # another code: other keys
    assert status == 0
    assert "**No regression.**" in report
    assert "exact: 1 figures equal" in report and "quality: 1 figures within noise" in report
    assert "timing: 3 runs' raw samples within the rule" in report


def test_a_quality_drop_across_three_seeds_fails_naming_the_run_and_figure(tmp_path, capsys):
    head = _night("c1", {s: {"top1": TOP1[s] - drop} for s, drop in ((0, 3.0), (1, 3.5), (2, 2.5))})
    status, report = _compare(tmp_path, _night("c0"), head, capsys)
    assert status == 1
    regressions = report.split("## Regressions (1)")[1].split("## Improvements")[0]
    assert "lora (rank=4) · digits · smoke" in regressions and "seeds 0, 1, 2" in regressions
    assert "accuracy/top1" in regressions and "n = 3" in regressions


def test_a_quality_change_needs_both_significance_and_the_minimum_effect(tmp_path, capsys):
    # a 0.5% drop on every seed but one differing slightly: significant, yet under 1%
    head = _night("c1", {s: {"top1": TOP1[s] * (0.995 + 0.0001 * s)} for s in TOP1})
    status, report = _compare(tmp_path, _night("c0"), head, capsys)
    assert status == 0 and "quality: 1 figures within noise" in report
    status, report = _compare(tmp_path / "strict", _night("c0"), head, capsys, "--min-effect", "0.001")
    assert status == 1 and "accuracy/top1" in report.split("## Regressions (1)")[1]
    # 3 points up on one seed, down on another: large but noise
    noisy = _night("c1", {0: {"top1": 83.0}, 1: {"top1": 81.0}})
    assert _compare(tmp_path / "noisy", _night("c0"), noisy, capsys)[0] == 0


def test_a_quality_gain_is_an_improvement_not_a_failure(tmp_path, capsys):
    head = _night("c1", {s: {"top1": TOP1[s] + 2.0 + 0.1 * s} for s in TOP1})
    status, report = _compare(tmp_path, _night("c0"), head, capsys)
    assert status == 0
    assert "accuracy/top1" in report.split("## Improvements (1)")[1]


def test_a_changed_stored_size_fails_whichever_way_it_goes(tmp_path, capsys):
    head = _night("c1", {1: {"artifact_bytes": 999}})
    status, report = _compare(tmp_path, _night("c0"), head, capsys)
    assert status == 1
    regression = report.split("## Regressions (1)")[1].split("## Improvements")[0]
    assert "compression/artifact_bytes" in regression and "seed 1" in regression
    assert "1,000" in regression and "999" in regression and "for the better" in regression


def test_a_latency_slowdown_of_one_and_a_half_fails_and_five_percent_does_not(tmp_path, capsys):
    slower = _night("c1", {s: {"latency_ms": 15.0} for s in TOP1})
    status, report = _compare(tmp_path / "slow", _night("c0"), slower, capsys)
    assert status == 1
    regression = report.split("## Regressions (3)")[1].split("## Improvements")[0]
    assert "latency/samples_ms" in regression and "seed 0" in regression and "×1.5" in regression
    spike = _night("c1", {0: {"latency_ms": 15.0}})  # one seed's run slowed by the machine, not the code
    status, report = _compare(tmp_path / "spike", _night("c0"), spike, capsys)
    assert status == 0 and "timing: 3 runs' raw samples within the rule" in report
    slightly = _night("c1", {s: {"latency_ms": 10.5} for s in TOP1})  # separated samples, but under ×1.1
    status, report = _compare(tmp_path / "slight", _night("c0"), slightly, capsys)
    assert status == 0 and "timing: 3 runs' raw samples within the rule" in report


def test_runs_both_folders_hold_on_other_hardware_fail_the_gate_and_say_why(tmp_path, capsys):
    gpu = {"kind": "cuda", "device": "cuda:0", "name": "Test GPU"}
    head = [_record(seed, code="c1", top1=0.0, hardware=gpu) for seed in TOP1]  # a collapse, hidden on other hardware
    status, report = _compare(tmp_path, _night("c0"), head, capsys)
    assert status == 1  # the gate never passes because nothing could be compared
    assert "could not be compared: the gate fails" in report and "Nothing could be compared" in report
    uncomparable = report.split("## In both folders, not comparable (1)")[1].split("##")[0]
    assert "Test GPU" in uncomparable and "Test CPU" in uncomparable and "different classes" in uncomparable


def test_a_run_only_one_folder_holds_is_listed_and_does_not_fail_a_gate_that_compared_others(tmp_path, capsys):
    extra = _record(0, method="vera", code="c1", top1=50.0)
    status, report = _compare(tmp_path, _night("c0"), [*_night("c1"), extra], capsys)
    assert status == 0 and "only in HEAD" in report.split("## Not compared")[1]


def test_runs_on_machines_of_one_hardware_class_are_compared_though_their_descriptions_differ(tmp_path, capsys):
    from ucdbench_plugins.hardware.cpu import CPU as CPUHardware

    def night(code: str, memory: int, top1: dict[int, float]) -> list[dict]:
        records = []
        for seed in TOP1:
            record = _record(seed, code=code, top1=top1[seed], hardware={**CPU, "memory_bytes": memory})
            record["hardware_class"] = CPUHardware().comparison_class(record["hardware"])
            records.append(record)
        return records

    collapsed = {seed: 10.0 for seed in TOP1}
    status, report = _compare(tmp_path, night("c0", 2**34, TOP1), night("c1", 2**34 + 4096, collapsed), capsys)
    assert status == 1 and "accuracy/top1" in report.split("## Regressions")[1].split("##")[0]  # caught, not skipped


def test_the_hardware_class_is_what_the_plugin_declares():
    from ucdbench_plugins.hardware.cpu import CPU as CPUHardware
    from ucdbench_plugins.hardware.cuda import CUDA

    cpu = CPUHardware().comparison_class({**CPU, "memory_bytes": 123, "cores": 64})
    assert cpu == {"kind": "cpu", "name": "Test CPU", "threads": 1}
    gpu = {"kind": "cuda", "device": "cuda:3", "name": "H200", "visible_devices": 8, "driver": "550.54.15",
           "memory_bytes": 1}
    assert CUDA().comparison_class(gpu) == {"kind": "cuda", "name": "H200", "count": 8, "driver_major": "550"}
    same = {**gpu, "device": "cuda:0", "driver": "550.90.07", "memory_bytes": 2}
    assert hardware_class({"hardware_class": CUDA().comparison_class(gpu)}) == \
        hardware_class({"hardware_class": CUDA().comparison_class(same)})
    assert hardware_class({"hardware_class": cpu}) != hardware_class({"hardware_class": {**cpu, "threads": 2}})


def test_a_run_that_now_fails_is_a_regression_and_missing_seeds_are_listed(tmp_path, capsys):
    head = _night("c1")[:2]
    head[1] = {**head[1], "status": "failed", "error": "RuntimeError: boom"}
    status, report = _compare(tmp_path, _night("c0"), head, capsys)
    assert status == 1
    assert "RuntimeError: boom" in report.split("## Regressions (1)")[1]
    assert "seed 2 | only in BASE" in report


def _old(records: list[dict]) -> list[dict]:
    """The records as a ucdbench before figure kinds and raw samples wrote them."""
    for record in records:
        for figures in record["figures"].values():
            for figure in figures:
                figure.pop("kind")
        record["evaluations"]["latency"].pop("samples_ms")
    return records


def test_old_records_without_kinds_are_compared_as_quality(tmp_path, capsys):
    status, report = _compare(tmp_path, _old(_night("c0")), _old(_night("c1")), capsys)
    assert status == 0
    assert "quality: 3 figures within noise" in report  # top1, artifact_bytes, p50_ms
    # against a new HEAD, HEAD's kinds apply: its timings need raw samples BASE does not have
    status, report = _compare(tmp_path / "mixed", _old(_night("c0")), _night("c1"), capsys)
    assert status == 0 and "BASE recorded none" in report


@pytest.mark.parametrize("problem", ["missing", "empty", "alpha"])
def test_usage_errors_exit_2(tmp_path, capsys, problem):
    base = _folder(tmp_path / "base", _night("c0"))
    head = {"missing": tmp_path / "nowhere", "empty": tmp_path / "empty", "alpha": base}[problem]
    (tmp_path / "empty" / "runs").mkdir(parents=True)
    options = ["--alpha", "1.5"] if problem == "alpha" else []
    assert main(["compare", str(base), str(head), *options]) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.ucdbench_e2e
def test_compare_from_the_command_line_writes_its_report(tmp_path):
    base = _folder(tmp_path / "base", _night("c0"))
    head = _folder(tmp_path / "head", _night("c1", {s: {"artifact_bytes": 2000} for s in TOP1}))
    out = tmp_path / "report.md"
    result = run_cli("compare", str(base), str(head), "--out", str(out))
    assert result.returncode == 1, result.stderr
    assert result.stdout == out.read_text()
    assert "## Regressions (1)" in result.stdout and "compression/artifact_bytes" in result.stdout
    assert run_cli("compare", str(base), str(base)).returncode == 0


def _accept(tmp_path: Path, text: str) -> str:
    path = tmp_path / "accepted-changes.toml"
    path.write_text(text)
    return str(path)


def test_an_accepted_slowdown_passes_the_gate_and_the_report_says_why(tmp_path, capsys):
    slower = _night("c1", {seed: {"latency_ms": 15.0} for seed in TOP1})
    assert _compare(tmp_path / "plain", _night("c0"), slower, capsys)[0] == 1
    accept = _accept(tmp_path, '[[accept]]\nmethod = "lora"\ntask = "digits"\nset = { rank = 4 }\n'
                               'figure = "latency/p50_ms"\nreason = "unmerged adapters at inference, reviewed in #1"\n'
                               '\n[[accept]]\nmethod = "vera"\ntask = "digits"\nfigure = "accuracy"\nreason = "gone"\n')
    status, report = _compare(tmp_path / "accepted", _night("c0"), slower, capsys, "--accept", accept)
    assert status == 0 and "**No regression.**" in report
    section = report.split("## Accepted changes (3)")[1].split("##")[0]
    assert section.count("unmerged adapters at inference, reviewed in #1") == 3  # one per seed
    assert "#2: vera · digits · accuracy — gone" in report  # an entry that accepted nothing is listed


def test_an_acceptance_names_its_setting_and_figure_and_can_expire(tmp_path, capsys):
    worse = _night("c1", {seed: {"top1": TOP1[seed] - 20} for seed in TOP1})
    other_figure = _accept(tmp_path, '[[accept]]\nmethod = "lora"\ntask = "digits"\nfigure = "latency/p50_ms"\n'
                                     'reason = "slower"\n')
    assert _compare(tmp_path / "a", _night("c0"), worse, capsys, "--accept", other_figure)[0] == 1
    other_setting = _accept(tmp_path, '[[accept]]\nmethod = "lora"\ntask = "digits"\nset = { rank = 8 }\n'
                                      'figure = "accuracy/top1"\nreason = "r8 only"\n')
    assert _compare(tmp_path / "b", _night("c0"), worse, capsys, "--accept", other_setting)[0] == 1
    expired = _accept(tmp_path, '[[accept]]\nmethod = "lora"\ntask = "digits"\nfigure = "accuracy/top1"\n'
                                'reason = "once"\nexpires = 2001-01-01\n')
    status, report = _compare(tmp_path / "c", _night("c0"), worse, capsys, "--accept", expired)
    assert status == 1 and "expired 2001-01-01" in report


def test_an_acceptance_without_a_reason_is_a_usage_error(tmp_path, capsys):
    bad = _accept(tmp_path, '[[accept]]\nmethod = "lora"\ntask = "digits"\nfigure = "accuracy/top1"\n')
    status = main(["compare", str(_folder(tmp_path / "base", _night("c0"))), str(_folder(tmp_path / "head",
                                                                                      _night("c1"))), "--accept", bad])
    assert status == 2 and "'reason' is required" in capsys.readouterr().err


def test_timings_are_tested_on_work_time_where_both_nights_kept_it(tmp_path, capsys):
    def night(code: str, wall_ms: float, work_ms: float | None) -> list[dict]:
        records = _night(code, {seed: {"latency_ms": wall_ms} for seed in TOP1})
        for record in records:
            if work_ms is not None:
                record["evaluations"]["latency"]["work_samples_ms"] = _samples(work_ms, record["seed"] + 7)
        return records

    # another job time-sliced the process: wall ×1.5, the process's own CPU time unchanged
    status, report = _compare(tmp_path / "sliced", night("c0", 10.0, 10.0), night("c1", 15.0, 10.0), capsys)
    assert status == 0 and "timing: 3 runs' raw samples within the rule" in report
    # the code did more work: caught on work time
    status, report = _compare(tmp_path / "slower", night("c0", 10.0, 10.0), night("c1", 15.0, 15.0), capsys)
    assert status == 1 and "latency/work_samples_ms" in report and "samples of work time (process CPU)" in report
    # one side without a work clock (a GPU, an older record): wall time, said so
    status, report = _compare(tmp_path / "wall", night("c0", 10.0, None), night("c1", 15.0, 10.0), capsys)
    assert status == 1 and "latency/samples_ms" in report and "samples of wall time" in report
