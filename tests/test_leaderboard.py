"""Leaderboard tables from hand-made records (no runs needed)."""

from __future__ import annotations

import re

from ucdbench.leaderboard import write_leaderboards


def _record(key: str, method: str, seed: int, top1: float, artifact_bytes: int) -> dict:
    return {
        "key": key, "status": "ok", "seed": seed, "preset": "smoke", "overrides": {},
        "method": {"name": method}, "hardware": {"kind": "cpu", "name": "Test CPU"},
        "task": {"name": "digits", "primary_metric": "top1",
                 "metrics": [{"name": "top1", "higher_is_better": True, "unit": "%"}]},
        "evaluations": {"accuracy": {"top1": top1},
                        "compression": {"artifact_bytes": artifact_bytes, "stored_scalars": artifact_bytes // 4}},
        "figures": {"accuracy": [{"name": "top1", "higher_is_better": True, "unit": "%", "headline": True}],
                    "compression": [{"name": "stored_scalars", "higher_is_better": False, "unit": ""},
                                    {"name": "artifact_bytes", "higher_is_better": False, "unit": "B"}]},
    }


def test_rows_are_mean_and_confidence_interval_over_seeds_and_counts_stay_exact(tmp_path):
    records = [_record("a", "lora", 0, 80.0, 549572), _record("b", "lora", 1, 90.0, 549572),
               _record("c", "full-ft", 0, 85.5, 1234567)]
    written = write_leaderboards(records, tmp_path)
    assert {p.name for p in written} == {"README.md", "digits.md", "digits.png"}
    board = (tmp_path / "digits.md").read_text()
    # two seeds: 85 ± t_{0.975,1} · s / √2 = 12.706 · 7.071 / 1.414 = 63.5
    assert re.search(r"\| lora\s+\|\s+2 \| 85 ± 64\s+\|", board)
    assert re.search(r"\| full-ft\s+\|\s+1 \| 85.5\s+\|", board)  # one seed: no interval
    assert "95% confidence interval" in board and "t distribution" in board
    assert "549,572" in board and "1,234,567" in board and "549,600" not in board  # bytes not rounded
    assert "Test CPU" in board


def test_equal_runs_show_zero_spread_not_rounding_noise(tmp_path):
    value = 100 * 1148 / 253480  # three equal runs whose pandas sample std is 6.8e-17, not 0
    records = [_record(str(seed), "pranc", seed, value, 1148) for seed in range(3)]
    write_leaderboards(records, tmp_path)
    board = (tmp_path / "digits.md").read_text()
    assert "0.4529 ± 0 " in board and "e-17" not in board


def test_reported_figure_applies_only_to_runs_in_its_setting():
    from ucdbench.interfaces import ReportedFigure

    figure = ReportedFigure("mnist", "top1", 85.0, "sine MLP", "paper", where={"activation": "sine", "task.model": "mlp"})
    assert figure.applies_to("mnist", {"activation": "sine"}, {"model": "mlp"})
    assert not figure.applies_to("mnist", {"activation": "none"}, {"model": "mlp"})  # the ablation
    assert not figure.applies_to("mnist", {"activation": "sine"}, {"model": "cnn"})  # another network
    assert not figure.applies_to("digits", {"activation": "sine"}, {"model": "mlp"})  # another task
    assert not figure.applies_to("mnist", {}, {"model": "mlp"})  # a method without that setting


def test_paper_figures_stand_beside_their_rows_in_any_evaluation_and_the_commit_is_named(tmp_path):
    sine = _record("a", "mcnc", 0, 67.0, 1260)
    sine["reported"] = [{"task": "digits", "metric": "top1", "value": 85.0, "setting": "sine MLP", "source": "p",
                         "where": {"activation": "sine"}},
                        {"task": "digits", "metric": "compression/stored_scalars", "value": 117, "setting": "budget",
                         "source": "p", "where": {}}]
    ablation = _record("b", "mcnc", 0, 54.0, 1260)
    ablation["overrides"] = {"activation": "none"}  # its record carries no figure: the setting differs
    for r in (sine, ablation):
        r["environment"] = {"git_commit": "abc123"}
    write_leaderboards([sine, ablation], tmp_path)
    board = (tmp_path / "digits.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in board.splitlines() if line.startswith("| mcnc")}
    accuracy_rows = [line for line in board.split("### compression")[0].splitlines() if line.startswith("| mcnc")]
    assert any("85.0 (sine MLP)" in line and "activation" not in line for line in accuracy_rows)
    assert not any("85.0" in line for line in accuracy_rows if "activation=none" in line)
    compression = board.split("### compression")[1]
    assert "117 (budget)" in compression  # an evaluation's own figure, in that evaluation's table
    assert "project commit `abc123`" in board
    assert rows  # both rows are there


def test_tables_sort_best_first_by_direction_and_mark_it():
    from ucdbench.leaderboard import write_leaderboards as write

    import tempfile
    from pathlib import Path

    fast, slow = _record("f", "fast", 0, 50.0, 100), _record("s", "slow", 0, 90.0, 100)
    for r, ms, rate in ((fast, 1.0, 189234.0), (slow, 9.0, 21000.0)):
        r["evaluations"]["latency"] = {"p50_ms": ms, "samples_per_s": rate}
        r["figures"]["latency"] = [{"name": "p50_ms", "higher_is_better": False, "unit": "ms"},
                                   {"name": "samples_per_s", "higher_is_better": True, "unit": "samples/s"}]
    with tempfile.TemporaryDirectory() as out:
        write([slow, fast], Path(out))
        board = (Path(out) / "digits.md").read_text()
    accuracy, latency = board.split("### accuracy")[1].split("### latency")
    assert accuracy.index("| slow") < accuracy.index("| fast")  # top1 ↑: the more accurate first
    assert latency.index("| fast") < latency.index("| slow")  # p50_ms ↓: the faster first
    assert "p50_ms ↓" in latency and "samples_per_s ↑" in latency and "top1 ↑" in accuracy
    assert "189,234" in latency and "e+05" not in board  # readable, not exponent notation


def test_format_number_is_readable_and_exact_for_counts():
    from ucdbench.leaderboard import format_number

    assert format_number(549572) == "549,572"
    assert format_number(189234.56) == "189,235"
    assert format_number(7.6481) == "7.648"
    assert format_number(0.0001262) == "0.0001262"
    assert format_number(0.0417, 2) == "0.042"


def test_figures_for_other_settings_are_listed_apart(tmp_path):
    run = _record("a", "slowformer", 0, 90.0, 100)
    run["reported_elsewhere"] = [{"task": "imagenet", "metric": "clean_gmacs_mean", "value": 0.873,
                                  "setting": "A-ViT-Tiny, clean", "source": "SlowFormer", "where": {}}]
    write_leaderboards([run], tmp_path)
    board = (tmp_path / "digits.md").read_text()
    section = board.split("## The papers' figures in other settings")[1]
    assert "0.873" in section and "A-ViT-Tiny, clean" in section and "imagenet" in section


def test_a_cell_that_fewer_runs_report_gives_its_own_n(tmp_path):
    records = [_record(str(seed), "lora", seed, 80.0 + seed, 100) for seed in range(3)]
    records[2]["evaluations"]["compression"].pop("artifact_bytes")
    write_leaderboards(records, tmp_path)
    compression = (tmp_path / "digits.md").read_text().split("### compression")[1]
    assert "100 ± 0 (n = 2)" in compression  # artifact_bytes: two of the row's three seeds


def test_rows_are_compared_with_base_and_full_ft_seed_by_seed(tmp_path):
    base = {0: 50.0, 1: 60.0, 2: 70.0}
    lora = {0: 52.0, 1: 63.0, 2: 74.0, 3: 99.0}  # seed 3 has no base run: left out of the pairs
    full = {0: 40.0, 1: 50.0, 2: 60.0}
    records = ([_record(f"b{s}", "base", s, v, 10) for s, v in base.items()]
               + [_record(f"l{s}", "lora", s, v, 10) for s, v in lora.items()]
               + [_record(f"f{s}", "full-ft", s, v, 10) for s, v in full.items()])
    other = _record("g0", "lora", 0, 90.0, 10)
    other["hardware"] = {"kind": "cuda", "name": "Test GPU"}  # no reference on its hardware
    write_leaderboards([*records, other], tmp_path)
    board = (tmp_path / "digits.md").read_text()
    section = board.split("### top1 ↑ against the references")[1]
    rows = {line.split("|")[1].strip() + line.split("|")[-2].strip(): line for line in section.splitlines()
            if line.startswith("| ") and "method" not in line}
    # lora − base over seeds 0-2: differences 2, 3, 4 (mean 3, s 1, t = 3√3, df 2): p = 1 − √(27/29) = 0.035
    # lora − full-ft: 12, 13, 14, t = 13√3: p = 1 − √(507/509) = 0.002
    lora_row = [cell.strip() for cell in rows["loracpu: Test CPU"].split("|")]
    assert lora_row[2:4] == ["+3 (p = 0.035, n = 3)", "+13 (p = 0.002, n = 3)"]
    base_row = [cell.strip() for cell in rows["basecpu: Test CPU"].split("|")]
    assert base_row[2:4] == ["(reference)", "+10 (p < 0.001, n = 3)"]  # the same 10 on every seed: p = 0
    assert "not on this hardware" in rows["loracuda: Test GPU"]
    assert section.index("| lora") < section.index("| base") < section.index("| full-ft")  # best first
