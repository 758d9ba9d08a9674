"""Views that answer a question ([[views]] in experiment files) and claims judged on every figure they name."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import run_cli
from test_leaderboard import _record
from ucdbench.cli.experiments import load_experiment
from ucdbench.reporting.claims import RowSelector, claims_markdown, judge_claims
from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.reporting.leaderboard import write_leaderboards
from ucdbench.core.formatting import format_p
from ucdbench.reporting.views import View, view_table

EXPERIMENT = """
[experiment]
preset = "smoke"
seeds = [0, 1]
hardware = "cpu"

[[runs]]
task = "digits"
methods = ["lora", "full-ft"]

[[views]]
question = "Which adapter keeps the most accuracy for its bytes?"
task = "digits"
rows = [{ method = "lora", set = { rank = 4 } }, { method = "full-ft" }]
where = { "task.model" = "vit" }
columns = ["accuracy/top1",
           "compression/artifact_bytes"]
rank_by = "accuracy/top1"
"""


def _write(tmp_path: Path, text: str, name: str = "experiment.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_view_reads_with_its_rows_settings_columns_and_ranked_figure(tmp_path):
    (view,) = load_experiment(_write(tmp_path, EXPERIMENT)).views
    assert view.question == "Which adapter keeps the most accuracy for its bytes?" and view.task == "digits"
    assert view.rows == (RowSelector("lora", {"rank": 4}), RowSelector("full-ft"))
    assert view.where == {"task.model": "vit"} and view.preset == "smoke"
    assert view.columns == ("accuracy/top1", "compression/artifact_bytes") and view.rank_by == "accuracy/top1"


@pytest.mark.parametrize("change, line, expected", [
    (('"accuracy/top1",\n', '"top1",\n'), 16, "key 'columns': expected a list of distinct 'evaluation/figure'"),
    (('rank_by = "accuracy/top1"', 'rank_by = "compression/stored_scalars"'), 18,
     "key 'rank_by': 'compression/stored_scalars' is not one of columns"),
    (('"accuracy/top1",\n', '"accuracy/top1", "targeted-attack/asr",\n'), None, None),  # a column without direction: shown
    (('"accuracy/top1",\n', '"accuracy/top1", "targeted-attack/asr",\n', 'rank_by = "accuracy/top1"',
      'rank_by = "targeted-attack/asr"'), 18, "key 'rank_by': 'targeted-attack/asr' declares no direction"),
    (('"accuracy/top1",\n', '"acuracy/top1",\n', 'rank_by = "accuracy/top1"', 'rank_by = "acuracy/top1"'), 18,
     "unknown evaluation 'acuracy'. Did you mean 'accuracy'?"),
    (('{ method = "full-ft" }', '{ method = "full-ft", figure = "accuracy/top1" }'), 14, "unknown key 'figure'"),
    (('where = { "task.model" = "vit" }', 'where = "vit"'), 15, "key 'where': expected a table of settings"),
    (('question = "Which', 'questions = "Which'), 12, "key 'questions': unknown key"),
])
def test_a_bad_view_names_its_line_and_key(tmp_path, change, line, expected):
    text = EXPERIMENT
    for old, new in zip(change[::2], change[1::2]):
        text = text.replace(old, new, 1)
    path = _write(tmp_path, text)
    if expected is None:
        load_experiment(path)
        return
    with pytest.raises(UcdbenchError) as error:
        load_experiment(path)
    assert f"{path}:{line}: [[views]] #1" in str(error.value) and expected in str(error.value)


def test_a_view_may_state_the_direction_of_a_figure_that_declares_none(tmp_path):
    text = EXPERIMENT.replace('"accuracy/top1",\n', '"targeted-attack/asr",\n').replace(
        'rank_by = "accuracy/top1"', 'rank_by = "targeted-attack/asr"\nhigher_is_better = true')
    (view,) = load_experiment(_write(tmp_path, text)).views
    assert view.rank_by == "targeted-attack/asr" and view.higher_is_better is True


def test_run_with_a_bad_view_is_a_usage_error_before_any_run(tmp_path):
    path = _write(tmp_path, EXPERIMENT.replace('rank_by = "accuracy/top1"', 'rank_by = "accuracy/nll"'))
    result = run_cli("run", "-f", str(path), results=tmp_path / "results")
    assert result.returncode == 2 and "[[views]] #1 key 'rank_by'" in result.stderr
    assert not (tmp_path / "results").exists()  # nothing started


def _row(key: str, method: str, seed: int, top1: float, artifact_bytes: int, **overrides) -> dict:
    record = _record(key, method, seed, top1, artifact_bytes)
    record["overrides"] = overrides
    record["task"]["config"] = {"model": overrides.get("task.model", "vit")}  # resolved: the default filled in
    record["method"].update(plugin=method, distribution="ucdbench", version="0.1.0")
    return record


RECORDS = [_row("l1a", "lora", 0, 80.0, 9000, rank=1), _row("l1b", "lora", 1, 82.0, 9000, rank=1),
           _row("l4a", "lora", 0, 86.0, 34000, rank=4), _row("l4b", "lora", 1, 88.0, 34000, rank=4),
           _row("fa", "full-ft", 0, 84.0, 3_000_000), _row("fb", "full-ft", 1, 85.0, 3_000_000),
           _row("p", "pranc", 0, 99.0, 100),  # a row no selector names
           _row("cnn", "lora", 0, 99.5, 9000, rank=1, **{"task.model": "cnn"})]  # a row outside `where`


def _view(rank_by: str = "accuracy/top1", **changes) -> View:
    fields = {"question": "Which adapter?", "task": "digits", "columns": ("accuracy/top1", "compression/artifact_bytes"),
              "rank_by": rank_by, "rows": (RowSelector("lora"), RowSelector("full-ft")), "preset": "smoke",
              "where": {}}
    fields.update(changes)
    return View(**fields)


def _methods(view: View) -> list[str]:
    return [row.cells[0][0] for row in view_table(view, RECORDS).rows]


def test_a_view_ranks_its_rows_in_the_direction_of_its_figure_and_shows_every_row_a_selector_matches():
    vit = {"task.model": "vit"}
    assert _methods(_view(where=vit)) == ["lora (rank=4)", "full-ft", "lora (rank=1)"]  # top1 ↑: highest first
    assert _methods(_view("compression/artifact_bytes", where=vit)) == [  # bytes ↓: smallest first
        "lora (rank=1)", "lora (rank=4)", "full-ft"]
    assert "lora (rank=1, task.model=cnn)" in _methods(_view())  # without `where`: told apart by the task setting
    assert _methods(_view(rows=(), where=vit))[0] == "pranc"  # no rows: every row of the task
    table = view_table(_view(where=vit), RECORDS)
    headers = [column.header for column in table.columns]
    assert headers == ["method", "seeds", "accuracy/top1 (%) ↑", "compression/artifact_bytes (B) ↓", "hardware",
                       "code (commit · fingerprint)"]
    assert table.rows[0].cells[2][0] == "87 ± 13" and table.rows[0].cells[3][0] == "34,000 ± 0"  # mean ± CI
    assert [r["key"] for r in table.rows[0].runs] == ["l4a", "l4b"]


def test_a_page_leads_with_its_views_and_collapses_every_other_table(tmp_path):
    view = _view(where={})
    write_leaderboards(RECORDS, tmp_path / "plain")
    write_leaderboards(RECORDS, tmp_path / "led", views=[view, _view(task="mnist", question="Elsewhere?")])
    plain, led = ((tmp_path / name / "digits.md").read_text() for name in ("plain", "led"))
    assert "<details>" not in plain and "Which adapter?" not in plain
    assert "Elsewhere?" not in led  # another task's view
    question, dump, end = led.index("## Which adapter?"), led.index("<details><summary>All figures"), led.index("</details>")
    assert question < dump < led.index("### accuracy") < led.index("### compression") < end
    assert "\n\n<details><summary>All figures" in led and "</summary>\n\n" in led  # blank lines: GitHub renders the tables
    assert led[question:dump].count("| lora (rank=") == 3 and "| pranc" not in led[question:dump]


def test_the_sites_task_page_leads_with_the_views_too(tmp_path):
    from ucdbench.reporting.site import build_site

    pages = build_site(RECORDS, tmp_path / "site", views=[_view(where={"task.model": "vit"})])
    task = next(p for p in pages if p.name == "digits.html").read_text()
    view = task.index('<h2 id="view-1">Which adapter?</h2>')
    assert view < task.index("<h2 id=\"smoke-") and 'href="runs/l4a.html"' in task[view:task.index("<h2 id=\"smoke-")]


def _representation(method: str, seed: int, nn1: float, probe: float) -> dict:
    record = _record(f"{method}{seed}", method, seed, 90.0, 1000)
    record["evaluations"].update({"knn": {"nn1_top1": nn1}, "linear-probe": {"probe_top1": probe}})
    record["figures"].update({"knn": [{"name": "nn1_top1", "higher_is_better": True, "unit": "%"}],
                              "linear-probe": [{"name": "probe_top1", "higher_is_better": True, "unit": "%"}]})
    return record


CLAIMS = """
[[claims]]
name = "the MLP head beats a linear one"
task = "digits"
figures = ["knn/nn1_top1", "linear-probe/probe_top1", "knn/nn20_top1"]
better = { method = "mlp-head" }
than = { method = "linear-head" }
"""


def test_a_claim_is_judged_and_shown_on_every_figure_it_names(tmp_path):
    """SimReg's case: 1-NN holds, the linear probe reverses; both stand on the page, and a
    figure no run reports says so."""
    (claim,) = load_experiment(_write(tmp_path, EXPERIMENT + CLAIMS)).claims
    assert claim.figures == ("knn/nn1_top1", "linear-probe/probe_top1", "knn/nn20_top1")
    records = [_representation("mlp-head", s, nn1, probe) for s, (nn1, probe) in enumerate([(80, 88), (81, 88.5), (83, 88)])]
    records += [_representation("linear-head", s, nn1, probe) for s, (nn1, probe) in enumerate([(72, 91), (73, 91), (75, 91.2)])]
    verdicts = {v.figure: v for v in judge_claims([claim], records)}
    assert verdicts["knn/nn1_top1"].verdict == "holds" and verdicts["knn/nn1_top1"].difference() == "+8 (better)"
    assert verdicts["linear-probe/probe_top1"].verdict == "does not hold"
    assert verdicts["linear-probe/probe_top1"].difference().endswith("(worse)")
    lines = claims_markdown([claim], list(verdicts.values())).splitlines()[2:]
    assert len(lines) == 3
    assert "| knn/nn1_top1 |" in lines[0] and "| +8 (better) | 3 |" in lines[0] and "**holds**" in lines[0]
    assert "| linear-probe/probe_top1 |" in lines[1] and "**does not hold**" in lines[1]
    assert "| knn/nn20_top1 |" in lines[2] and "no runs of both rows report it" in lines[2]
    p = verdicts["knn/nn1_top1"].comparison.p_value
    assert f"| {format_p(p)} |" in lines[0]


@pytest.mark.parametrize("claim, expected", [
    ('figure = "knn/nn1_top1"\nfigures = ["knn/nn1_top1"]', "key 'figures': give the figures"),
    ("figures = []", "key 'figures': expected a list of distinct 'evaluation/figure' names"),
    ('figures = ["knn/nn1_top1", "knn/nn1_top1"]', "expected a list of distinct"),
    ('figures = ["knn/nn1_top1", "linear-probe/probe_top1"]\nbetter = { method = "a", figure = "knn/nn20_top1" }',
     "key 'better': a row's own figure compares one figure"),
])
def test_a_claim_names_its_figures_once(tmp_path, claim, expected):
    text = (EXPERIMENT + '\n[[claims]]\nname = "n"\ntask = "digits"\n' + claim + "\n"
            + ('better = { method = "a" }\n' if "better" not in claim else "") + 'than = { method = "b" }\n')
    with pytest.raises(UcdbenchError, match=expected.replace("(", r"\(").replace("[", r"\[")):
        load_experiment(_write(tmp_path, text))


def test_p_is_printed_with_the_digits_that_show_its_side_of_the_threshold():
    assert format_p(0.05) == "p = 0.05"  # exactly the threshold: not below it
    assert format_p(0.0503, threshold=0.01) == "p = 0.05"  # two digits do, away from the threshold
