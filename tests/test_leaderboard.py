"""Leaderboard tables from hand-made records (no runs needed)."""

from __future__ import annotations

import re
from dataclasses import asdict

import pytest

from ucdbench.api import ChartAxis, Metric
from ucdbench.reporting.leaderboard import write_leaderboards
from ucdbench_plugins.evaluations.compression import Compression
from ucdbench_plugins.evaluations.flops import Flops
from ucdbench_plugins.evaluations.flops_under_attack import FlopsUnderAttack
from ucdbench_plugins.evaluations.generation_cost import GenerationCost

REFERENCE_ROWS = ("base", "full-ft")
"""The built-in methods that declare themselves reference rows (a record carries the declaration)."""


def _figures(evaluation: type) -> list[dict]:
    """An evaluation's declared figures as a record stores them, chart axes included."""
    return [asdict(m) for m in evaluation.figures]


def _record(key: str, method: str, seed: int, top1: float, artifact_bytes: int, size_percent: float = 100.5) -> dict:
    return {
        "key": key, "status": "ok", "seed": seed, "preset": "smoke", "overrides": {},
        "method": {"name": method, "reference_row": method in REFERENCE_ROWS},
        "hardware": {"kind": "cpu", "name": "Test CPU"},
        "task": {"name": "digits", "primary_metric": "top1",
                 "metrics": [{"name": "top1", "higher_is_better": True, "unit": "%"}]},
        "evaluations": {"accuracy": {"top1": top1},
                        "compression": {"artifact_bytes": artifact_bytes, "stored_scalars": artifact_bytes // 4,
                                        "size_percent": size_percent}},
        "figures": {"accuracy": [{"name": "top1", "higher_is_better": True, "unit": "%", "headline": True}],
                    "compression": _figures(Compression)},
    }


def test_rows_are_mean_and_confidence_interval_over_seeds_and_counts_stay_exact(tmp_path):
    records = [_record("a", "lora", 0, 80.0, 549572, 44.5), _record("b", "lora", 1, 90.0, 549572, 44.5),
               _record("c", "full-ft", 0, 85.5, 1234567)]
    (tmp_path / "digits.png").write_bytes(b"the one chart per task of an earlier version")
    written = write_leaderboards(records, tmp_path)
    assert {str(p.relative_to(tmp_path)) for p in written} == {"README.md", "digits.md",
                                                               "digits-plots/smoke-default-storage.png"}
    assert not (tmp_path / "digits.png").exists()
    board = (tmp_path / "digits.md").read_text()
    # two seeds: 85 ± t_{0.975,1} · s / √2 = 12.706 · 7.071 / 1.414 = 63.5
    assert re.search(r"\| lora\s+\|\s+2 \| 85 ± 64\s+\|", board)
    assert re.search(r"\| full-ft\s+\|\s+1 \| 85.5\s+\|", board)  # one seed: no interval
    assert "95% confidence interval" in board and "t distribution" in board
    assert "549,572" in board and "1,234,567" in board and "549,600" not in board  # bytes not rounded
    assert "Test CPU" in board


def test_runs_on_other_thread_counts_are_other_rows_not_more_seeds(tmp_path):
    records = [_record("a", "lora", 0, 80.0, 549572), _record("b", "lora", 0, 81.0, 549572),
               _record("c", "lora", 1, 82.0, 549572)]
    records[0]["hardware"]["threads"] = 1
    for record in records[1:]:
        record["hardware"] = {**record["hardware"], "threads": 2}
    write_leaderboards(records, tmp_path)
    board = (tmp_path / "digits.md").read_text()
    assert re.search(r"\| lora\s+\|\s+1 \| 80 .*\| cpu: Test CPU, 1 thread\s+\|", board)
    assert re.search(r"\| lora\s+\|\s+2 \| 81.5 ± .*\| cpu: Test CPU, 2 threads\s+\|", board)


def test_equal_runs_show_zero_spread_not_rounding_noise(tmp_path):
    value = 100 * 1148 / 253480  # three equal runs whose pandas sample std is 6.8e-17, not 0
    records = [_record(str(seed), "pranc", seed, value, 1148) for seed in range(3)]
    write_leaderboards(records, tmp_path)
    board = (tmp_path / "digits.md").read_text()
    assert "0.4529 ± 0 " in board and "e-17" not in board


def test_reported_figure_applies_only_to_runs_in_its_setting():
    from ucdbench.contracts.interfaces import ReportedFigure

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
    from ucdbench.reporting.leaderboard import write_leaderboards as write

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
    assert "p50_ms (ms) ↓" in latency and "samples_per_s (samples/s) ↑" in latency and "top1 (%) ↑" in accuracy
    assert "189,234" in latency and "e+05" not in board  # readable, not exponent notation


def test_format_number_is_readable_and_exact_for_counts():
    from ucdbench.core.formatting import format_number

    assert format_number(549572) == "549,572"
    assert format_number(189234.56) == "189,235"
    assert format_number(7.6481) == "7.648"
    assert format_number(0.0001262) == "0.0001262"
    assert format_number(0.0417, 2) == "0.042"
    assert (format_number(float("nan")), format_number(float("-inf"))) == ("nan", "-inf")  # undefined, not a crash


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
    section = board.split("### top1 (%) ↑ against the references")[1]
    rows = {line.split("|")[1].strip() + line.split("|")[-2].strip(): line for line in section.splitlines()
            if line.startswith("| ") and "method" not in line}
    # lora − base over seeds 0-2: differences 2, 3, 4 (mean 3, s 1, t = 3√3, df 2): p = 1 − √(27/29) = 0.035
    # lora − full-ft: 12, 13, 14, t = 13√3: p = 1 − √(507/509) = 0.002
    lora_row = [cell.strip() for cell in rows["loracpu: Test CPU"].split("|")]
    assert lora_row[2:4] == ["+3 (better, p = 0.035, n = 3)", "+13 (better, p = 0.002, n = 3)"]
    base_row = [cell.strip() for cell in rows["basecpu: Test CPU"].split("|")]
    assert base_row[2:4] == ["(reference)", "+10 (better, p < 0.001, n = 3)"]  # the same 10 on every seed: p = 0
    assert "not on this hardware" in rows["loracuda: Test GPU"]
    assert section.index("| lora") < section.index("| base") < section.index("| full-ft")  # best first


def _perplexity_record(key: str, method: str, seed: int, perplexity: float) -> dict:
    """A run of a task whose primary metric is lower-is-better (pydocs' perplexity)."""
    return {
        "key": key, "status": "ok", "seed": seed, "preset": "smoke", "overrides": {},
        "method": {"name": method, "reference_row": method in REFERENCE_ROWS},
        "hardware": {"kind": "cpu", "name": "Test CPU"},
        "task": {"name": "pydocs", "primary_metric": "perplexity",
                 "metrics": [{"name": "perplexity", "higher_is_better": False, "unit": ""}]},
        "evaluations": {"accuracy": {"perplexity": perplexity}},
        "figures": {"accuracy": [{"name": "perplexity", "higher_is_better": False, "unit": "", "headline": True}]},
    }


def test_the_reference_table_of_a_lower_is_better_figure_lists_the_lowest_first(tmp_path):
    from ucdbench.reporting.leaderboard import task_boards

    perplexities = {"base": (30.0, 32.0), "full-ft": (20.0, 21.0), "lora": (24.0, 27.0), "nola": (40.0, 41.0)}
    records = [_perplexity_record(f"{method}{seed}", method, seed, value)
               for method, values in perplexities.items() for seed, value in enumerate(values)]
    write_leaderboards(records, tmp_path)
    section = (tmp_path / "pydocs.md").read_text().split("### perplexity ↓ against the references")[1]
    order = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ") and "method" not in line]
    assert order == ["full-ft", "lora", "base", "nola"]  # means 20.5, 25.5, 31, 40.5: the lowest first
    lora = next(line for line in section.splitlines() if line.startswith("| lora"))
    assert "−5.5 (better, p = 0.058, n = 2)" in lora  # lora − base: −6, −5 (t = −11, df 1: p = 1 − 2·atan(11)/π)
    nola = next(line for line in section.splitlines() if line.startswith("| nola"))
    assert "+9.5 (worse, p = " in nola  # higher perplexity than base: worse
    (board,) = task_boards(records)
    (section_table,) = [s.references for s in board.sections]
    assert [column.higher_is_better for column in section_table.columns] == [None, False, False, None]


def test_pareto_front_is_direction_aware_by_hand():
    from ucdbench.reporting.charts import pareto_front

    # (stored bytes, accuracy): C is beaten by B (fewer bytes, more accurate), F by A
    points = [(100, 80), (200, 85), (300, 84), (50, 70), (150, 79)]
    assert pareto_front(points, x_higher_is_better=False, y_higher_is_better=True) == [3, 0, 1]  # D, A, B by x
    # a figure where lower is better (perplexity): D has the fewest bytes and the lowest value, beating all
    assert pareto_front(points, False, False) == [3]
    # both higher is better: B has the highest y, C the highest x; A, D, F are beaten by B
    assert pareto_front(points, True, True) == [1, 2]
    assert pareto_front([(1, 1), (1, 1)], False, True) == [0, 1]  # equal points: neither dominates
    assert pareto_front(points, None, True) == []  # no direction on an axis: no frontier


def _section_record(key: str, method: str, seed: int, top1: float, *, size_percent: float | None = 100.5,
                    flops_ratio: float = 1.0, attack: bool = False, model: str | None = None) -> dict:
    record = _record(key, method, seed, top1, int(1000 * (size_percent or 100)), size_percent or 100)
    if size_percent is None:  # stores nothing (the base model as it is)
        record["evaluations"].pop("compression")
        record["figures"].pop("compression")
    if model:
        record["overrides"] = {"task.model": model}
    record["evaluations"]["flops"] = {"gflops": 2.0 * flops_ratio, "flops_ratio": flops_ratio}
    record["figures"]["flops"] = _figures(Flops)
    if attack:
        record["evaluations"]["flops-under-attack"] = {"clean_gmacs_mean": 0.6, "attacked_gmacs_mean": 0.9 + seed / 10,
                                                       "flops_ratio": 1.5}
        record["figures"]["flops-under-attack"] = _figures(FlopsUnderAttack)
    return record


def test_a_chart_holds_only_the_rows_of_its_section_and_kind():
    from ucdbench.reporting.leaderboard import task_boards

    records = []
    for seed in (0, 1):
        records += [
            _section_record(f"full{seed}", "full-ft", seed, 90.0 + seed),                      # saves nothing: a reference
            _section_record(f"base{seed}", "base", seed, 50.0, size_percent=None),            # stores nothing, computes all
            _section_record(f"lora{seed}", "lora", seed, 80.0 + 2 * seed, size_percent=2.0),  # saves storage
            _section_record(f"avit{seed}", "avit", seed, 85.0, flops_ratio=0.7),               # saves compute
            _section_record(f"slow{seed}", "slowformer", seed, 84.0, size_percent=0.05, flops_ratio=0.6, attack=True),
            _section_record(f"mlp{seed}", "lora", seed, 60.0, size_percent=3.0, model="mlp"),  # another task setting
        ]
    records[2]["reported"] = [{"task": "digits", "metric": "top1", "value": 88.0, "setting": "the paper's",
                               "source": "p", "where": {}}]
    (board,) = task_boards(records)
    charts = {(s.task_settings, c.kind.name): c for s in board.sections for c in s.charts}
    rows = {key: sorted(p.label for p in chart.points) for key, chart in charts.items()}
    assert rows == {("", "storage"): ["full-ft", "lora"],  # the section with the default model: no setting to name
                    ("", "compute"): ["avit", "base", "full-ft"],
                    ("", "attack"): ["slowformer"],
                    ("model=mlp", "storage"): ["lora"]}
    storage = charts["", "storage"]
    lora = next(p for p in storage.points if p.label == "lora")
    assert lora.paper == ((2000.0, 88.0, "the paper's"),)  # the paper's accuracy at the row's own bytes
    # top1 80 and 82 over two seeds: 81 ± t_{0.975,1} · 1.414 / √2 = 12.706
    assert lora.y.mean == 81.0 and abs(lora.y.half_width - 12.706) < 1e-3 and lora.x.half_width == 0.0
    assert (storage.x_higher_is_better, storage.y_higher_is_better) == (False, True)
    assert [storage.points[i].label for i in storage.frontier] == ["lora", "full-ft"]  # fewer bytes; more accurate
    attack = charts["", "attack"]
    assert attack.frontier == [] and attack.points[0].y.mean == pytest.approx(0.95)  # GMACs declare no better direction


def test_generating_rows_get_accuracy_against_throughput_and_no_other_row_does():
    from ucdbench.reporting.leaderboard import task_boards

    records = []
    for seed in (0, 1):
        for method, top1, rate in (("genie", 57.0, 120.0), ("mixup", 45.0, 30000.0), ("fewshot-none", 46.0, None)):
            record = _section_record(f"{method}{seed}", method, seed, top1 + seed)
            if rate is not None:  # only the methods that make images report their cost
                record["evaluations"]["generation-cost"] = {"images_per_s": rate * (1 + seed / 10)}
                record["figures"]["generation-cost"] = _figures(GenerationCost)
            records.append(record)
    (board,) = task_boards(records)
    (generation,) = [c for s in board.sections for c in s.charts if c.kind.name == "generation"]
    assert sorted(p.label for p in generation.points) == ["genie", "mixup"]
    assert (generation.x_higher_is_better, generation.y_higher_is_better) == (True, True)
    assert [generation.points[i].label for i in generation.frontier] == ["genie", "mixup"]  # neither dominates


def test_each_section_embeds_its_own_charts(tmp_path):
    records = [_section_record(f"l{s}", "lora", s, 80.0, size_percent=2.0) for s in (0, 1)] + \
              [_section_record(f"m{s}", "lora", s, 70.0, size_percent=3.0, model="mlp") for s in (0, 1)]
    write_leaderboards(records, tmp_path)
    board = (tmp_path / "digits.md").read_text()
    default, mlp = board.split("## preset `smoke`\n")[1].split("## preset `smoke`, model=mlp\n")
    assert "](digits-plots/smoke-default-storage.png)" in default and "model=mlp" not in default
    assert "](digits-plots/smoke-model=mlp-storage.png)" in mlp
    for name in ("smoke-default-storage.png", "smoke-model=mlp-storage.png"):
        assert (tmp_path / "digits-plots" / name).read_bytes().startswith(b"\x89PNG")


def test_reference_rows_are_the_methods_that_declare_themselves_references_whatever_their_names(tmp_path):
    records = []
    for seed, (mine, base) in enumerate(((70.0, 60.0), (72.0, 61.0))):
        mine_run, base_run = _record(f"m{seed}", "my-reference", seed, mine, 10), _record(f"b{seed}", "base", seed, base, 10)
        mine_run["method"]["reference_row"], base_run["method"]["reference_row"] = True, False
        records += [mine_run, base_run]
    write_leaderboards(records, tmp_path)
    board = (tmp_path / "digits.md").read_text()
    section = board.split("### top1 (%) ↑ against the references")[1]
    assert "| vs my-reference" in section and "vs base" not in section
    assert "(`my-reference`: methods that declare themselves references" in section
    for record in records:  # a record that declares nothing (written before the declaration) is no reference
        record["method"].pop("reference_row")
    write_leaderboards(records, tmp_path)
    assert "against the references" not in (tmp_path / "digits.md").read_text()


def test_charts_are_the_axes_the_records_declare_not_figures_the_harness_knows():
    from ucdbench.reporting.leaderboard import task_boards

    axis = ChartAxis("energy", "joules per sample", "{y} against {x}", log_scale=True)
    records = []
    for seed in (0, 1):
        for method, top1, joules in (("small", 70.0, 0.5), ("large", 80.0, 2.0)):
            record = _record(f"{method}{seed}", method, seed, top1 + seed, 10)
            record["evaluations"]["power"] = {"joules": joules, "watts": 3.0}
            record["figures"]["power"] = [asdict(Metric("joules", False, "J", chart=axis)), asdict(Metric("watts", False))]
            records.append(record)
    (board,) = task_boards(records)
    (chart,) = [c for s in board.sections for c in s.charts]  # no row stores less than the dense model: no storage chart
    assert (chart.kind.name, chart.kind.x, chart.kind.log_x) == ("energy", "power/joules", True)
    assert chart.title == "top1 against joules per sample"
    assert chart.x_label == "joules per sample, lower is better" and chart.y_label == "top1 (%), higher is better"
    assert sorted(p.label for p in chart.points) == ["large", "small"]
    assert [chart.points[i].label for i in chart.frontier] == ["small", "large"]  # cheaper; more accurate
    for record in records:  # the same figures without the declaration: no chart of them
        record["figures"]["power"] = [asdict(Metric("joules", False, "J")), asdict(Metric("watts", False))]
    (board,) = task_boards(records)
    assert not [c for s in board.sections for c in s.charts]


def test_sections_and_rows_are_the_settings_that_ran_not_those_typed(tmp_path):
    """``label_noise=0.0`` typed and left at its default are one section; a method setting typed
    at its default is one row with the run that left it; headings and labels name only what
    differs, and the page spells out every resolved task setting once per section."""
    from ucdbench.reporting.leaderboard import task_boards

    def run(key, seed, task_overrides, method_overrides, noise, lr, top1):
        record = _record(key, "cmsf-sup", seed, top1, 10)
        record["overrides"] = {**{f"task.{k}": v for k, v in task_overrides.items()}, **method_overrides}
        record["task"]["config"] = {"label_noise": noise, "model": "cnn"}
        record["method"]["config"] = {"lr": lr, "topk": 10}
        return record

    records = [run("a", 0, {"label_noise": 0.0}, {}, 0.0, 0.05, 90.0), run("b", 1, {}, {"lr": 0.05}, 0.0, 0.05, 91.0),
               run("c", 0, {"label_noise": 0.5}, {}, 0.5, 0.05, 70.0), run("d", 0, {"label_noise": 0.5}, {"lr": 0.1},
                                                                            0.5, 0.1, 60.0)]
    (board,) = task_boards(records)
    assert [s.heading for s in board.sections] == ["preset `smoke`, label_noise=0.0", "preset `smoke`, label_noise=0.5"]
    clean, noisy = board.sections
    assert len(clean.group) == 2 and set(clean.group.settings) == {""}  # one row of two seeds
    assert sorted(noisy.group.settings) == ["lr=0.05", "lr=0.1"]
    assert clean.settings_line == "Task settings (resolved): label_noise=0.0, model=cnn."


def test_headers_carry_units_and_rows_their_code_and_an_interval_figure_gets_no_interval(tmp_path):
    records = []
    for seed, (top1, ci) in enumerate(((57.0, 1.0), (58.0, 1.2))):
        record = _record(f"g{seed}", "genie", seed, top1, 10)
        record["evaluations"]["accuracy"]["ci95"] = ci
        record["figures"]["accuracy"].append({"name": "ci95", "higher_is_better": None, "unit": "%",
                                              "interval_of": "top1"})
        record["environment"], record["code"] = {"git_commit": "0123456789abcdef"}, "fingerprint16hex"
        records.append(record)
    write_leaderboards(records, tmp_path)
    accuracy = (tmp_path / "digits.md").read_text().split("### accuracy")[1].split("###")[0]
    assert "top1 (%) ↑" in accuracy and "ci95 (% half-width of top1's interval in a run)" in accuracy
    assert "± 1.1 (mean of runs)" in accuracy and "1.1 ±" not in accuracy
    assert "0123456789 · fingerprint16hex" in accuracy


def test_an_attack_row_names_its_clean_control_instead_of_repeating_it(tmp_path):
    from ucdbench.reporting.leaderboard import task_boards

    target = _record("t", "ats", 0, 90.0, 10)
    target["method"]["config"] = {"stages": [3, 4, 5], "epochs": 5}
    attack = _record("s", "slowformer", 0, 90.0, 10)
    attack["evaluations"] = {"accuracy": {"top1_transformed": 80.0}}
    attack["figures"] = {"accuracy": [{"name": "top1_transformed", "higher_is_better": True, "unit": "%"}]}
    attack["clean_control"] = {"method": "ats", "settings": {"stages": [3, 4, 5]}}
    orphan = _record("o", "slowformer", 0, 90.0, 10)
    orphan["evaluations"], orphan["figures"] = attack["evaluations"], attack["figures"]
    orphan["method"]["config"], orphan["clean_control"] = {"target": "avit"}, {"method": "avit", "settings": {}}
    (board,) = task_boards([target, attack, orphan])
    (section,) = board.sections
    accuracy = dict(section.tables)["accuracy"].markdown()
    assert "→ ats" in accuracy and "avit (not run in this section)" in accuracy
    attack_line = next(line for line in accuracy.splitlines() if "→ ats" in line)
    assert "90" not in attack_line.split("|")[3]  # the attacked figure, not the target's clean one


@pytest.mark.parametrize(("p", "text"), [(0.0497, "p = 0.0497"), (0.0503, "p = 0.0503"), (0.012, "p = 0.012"),
                                          (0.0004, "p < 0.001"), (0.04999, "p = 0.04999")])
def test_p_values_print_on_the_side_of_the_threshold_they_fall(p, text):
    from ucdbench.core.formatting import format_p

    assert format_p(p) == text


def test_a_difference_says_which_way_is_better():
    from ucdbench.core.formatting import signed_difference

    assert signed_difference(2.5, 2.5) == "+2.5 (better)" and signed_difference(2.5, -2.5) == "+2.5 (worse)"
    assert signed_difference(-1.0, -1.0, "n = 3") == "−1 (worse, n = 3)" and signed_difference(-1.0, None) == "−1"
    assert signed_difference(0.0, 0.0) == "±0"


def test_the_index_links_pages_beside_it_that_the_build_did_not_write(tmp_path):
    (tmp_path / "sweep_cpu.md").write_text("# A sweep of latencies\n\nGenerated by a script.\n")
    (tmp_path / "notes.md").write_text("no heading here\n")
    write_leaderboards([_record("a", "lora", 0, 80.0, 1000)], tmp_path)
    index = (tmp_path / "README.md").read_text()
    other = index.split("## Other pages")[1]
    assert "- [A sweep of latencies](sweep_cpu.md)" in other and "- [notes](notes.md)" in other
    assert "digits.md" not in other and "README.md" not in other  # this build's pages are the task table's


def test_a_page_does_not_depend_on_the_order_records_are_read_in(tmp_path):
    """A results folder lists its files in any order (a fresh clone's are all new): rows that tie
    on the ranked figure keep one order, by label, and so do the page's other tables."""
    records = [_record(f"{method}{seed}", method, seed, 80.0, 1000) for method in ("lora", "base", "full-ft", "nola")
               for seed in range(2)]
    write_leaderboards(records, tmp_path / "forward")
    write_leaderboards(list(reversed(records)), tmp_path / "backward")
    forward, backward = ((tmp_path / side / "digits.md").read_text() for side in ("forward", "backward"))
    assert forward == backward
    accuracy = forward.split("### accuracy")[1].split("###")[0]
    rows = [line.split("|")[1].strip() for line in accuracy.splitlines() if line.startswith("| ")][1:]  # past the header
    assert rows == ["base", "full-ft", "lora", "nola"]  # all at 80: by label


def test_kept_records_leave_out_the_artifact_path_only_and_keep_the_timing_samples():
    from ucdbench.reporting.audit import portable

    record = _record("k", "lora", 0, 80.0, 1000)
    record["artifact"] = "/somewhere/artifacts/k.safetensors"
    record["evaluations"]["latency"] = {"p50_ms": 2.0, "samples_ms": [1.9, 2.0, 2.1], "work_samples_ms": [1.8, 1.9, 2.0]}
    kept = portable(record)
    assert "artifact" not in kept and "artifact" in record
    assert kept == {k: v for k, v in record.items() if k != "artifact"}  # samples kept: the CPU share needs them
