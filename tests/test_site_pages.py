"""What `ucdbench publish` writes, read without a browser, on a site built from real records: a smoke
run of LoRA and NOLA on digits (two seeds), a second night made from it whose LoRA regressed, the
gate's JSON report between them, and a history of the two nights on one day."""

from __future__ import annotations

import csv
import io
import json
import shlex
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import run_cli

from ucdbench.cli import build_parser
from ucdbench.reporting.leaderboard import task_boards
from ucdbench.reporting.site import build_site, history_entry, read_compare_report, read_history
from ucdbench.reporting.site.downloads import NUMBER_SUFFIX
from ucdbench.running.store import RunStore

NIGHT2_COMMIT = "feedfacefeedfacefeedfacefeedfacefeedface"
ON_ONE_DAY = (datetime(2026, 12, 6, 3, 17, tzinfo=timezone.utc), datetime(2026, 12, 6, 21, 5, tzinfo=timezone.utc))


def _records(results: Path) -> list[dict]:
    return RunStore(results).scan()[0]


def _second_night(results: Path, night2: Path) -> None:
    """Last night's records as tonight's on another commit, LoRA's top-1 5 points lower on every seed."""
    (night2 / "runs").mkdir(parents=True)
    for record in _records(results):
        record["key"] = "n2" + record["key"][2:]
        record["environment"]["git_commit"] = NIGHT2_COMMIT
        if record["method"]["name"] == "lora":
            record["evaluations"]["accuracy"]["top1"] -= 5.0 + 0.01 * record["seed"]
        (night2 / "runs" / f"{record['key']}.json").write_text(json.dumps(record))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """Two nights, the gate's report, a history of both on one day, and the site of the second."""
    from ucdbench.cli.plugins import support_matrix
    from ucdbench.discovery.registry import load_registry

    root = tmp_path_factory.mktemp("pages")
    results, night2 = root / "night1", root / "night2"
    done = run_cli("run", "--method", "lora", "nola", "--preset", "smoke", "--seed", "0", "1", results=results)
    assert done.returncode == 0, done.stderr[-3000:]
    failed = {**_records(results)[0], "key": "f" * 16, "status": "failed", "seed": 7,
              "error": "diverged: loss is nan", "environment": {"git_commit": NIGHT2_COMMIT}}
    _second_night(results, night2)
    (night2 / "runs" / f"{failed['key']}.json").write_text(json.dumps(failed))
    gate = run_cli("compare", str(results), str(night2), "--json", str(root / "compare.json"))
    assert gate.returncode == 1, gate.stdout + gate.stderr  # LoRA regressed
    report = read_compare_report(root / "compare.json")
    history = root / "history.jsonl"
    old = {"date": "2026-12-05", "rows": [{"task": "digits", "preset": "smoke", "task_settings": "", "method": "lora",
                                           "settings": "", "hardware": "old", "figure": "top1", "mean": 40.0,
                                           "half_width": None, "n": 1}]}  # a line of the first format
    lines = [old, history_entry(_records(results), ON_ONE_DAY[0]),
             history_entry(_records(night2), ON_ONE_DAY[1], report)]
    history.write_text("".join(json.dumps(line) + "\n" for line in lines))
    records = _records(night2)
    support, _ = support_matrix(load_registry())
    build_site(records, root / "site", night2, history=read_history(history), compare_report=report, support=support)
    return {"root": root, "results": results, "night2": night2, "site": root / "site", "records": records,
            "report": report, "history": history, "support": support}


def _page(built: dict, name: str) -> str:
    return (built["site"] / name).read_text()


def _of(built: dict, method: str, seed: int) -> dict:
    return next(r for r in built["records"] if r["method"]["name"] == method and r.get("seed") == seed
                and r["status"] == "ok")


def test_every_run_has_a_page_with_its_configuration_commit_curves_and_rebuild(built):
    site = built["site"]
    assert {p.stem for p in (site / "runs").glob("*.html")} == {r["key"] for r in built["records"]}
    lora = _of(built, "lora", 1)
    page = _page(built, f"runs/{lora['key']}.html")
    assert f'href="runs/{lora["key"]}.html"' in _page(built, "digits.html")  # a row's "seed 1" leads here
    for setting, value in lora["method"]["config"].items():  # the resolved configuration, method and task
        assert f"<td>{setting}</td><td><code>{value if isinstance(value, str) else json.dumps(value)}</code>" in page
    assert "<td>pretrain_classes</td>" in page and NIGHT2_COMMIT in page and lora["code"] in page
    assert f'src="../plots/runs/{lora["key"]}-curves.png"' in page
    assert (site / "plots" / "runs" / f"{lora['key']}-curves.png").read_bytes()[:4] == b"\x89PNG"
    assert f'href="../records/{lora["key"]}.json"' in page and (site / "records" / f"{lora['key']}.json").is_file()
    size = Path(lora["artifact"]).stat().st_size
    assert f"{size:,} bytes" in page
    command = page.split('<pre id="rebuild-command">')[1].split("</pre>")[0]
    arguments = build_parser().parse_args(shlex.split(command.replace("&#39;", "'"))[1:])
    assert (arguments.method, arguments.task, arguments.preset, arguments.seed, arguments.force) == (
        ["lora"], "digits", "smoke", [1], True)
    assert "rebuild_run(record)" in page
    assert f'href="../methods/lora.html"' in page and 'href="../digits.html"' in page and 'href="../index.html"' in page
    broken = _page(built, f"runs/{'f' * 16}.html")
    assert "diverged: loss is nan" in broken.split('<h2 id="error">')[1].split("<h2")[0]


def test_downloads_parse_and_agree_with_the_tables(built):
    site, task = built["site"], _page(built, "digits.html")
    board = task_boards([r for r in built["records"]])[0]
    evaluation, table = next((e, t) for e, t in board.sections[0].tables if e == "accuracy")
    table_id = f"smoke-{evaluation}"
    assert f'id="{table_id}"' in task and f'href="downloads/digits/{table_id}.csv"' in task
    rows = list(csv.DictReader(io.StringIO((site / "downloads" / "digits" / f"{table_id}.csv").read_text())))
    data = json.loads((site / "downloads" / "digits" / f"{table_id}.json").read_text())
    assert data["table"] == table_id and [c["header"] for c in data["columns"]] == [c.header for c in table.columns]
    assert len(rows) == len(data["rows"]) == len(table.rows) > 0
    top1 = next(c.header for c in table.columns if c.header.startswith("top1"))
    for row, entry, expected in zip(rows, data["rows"], table.rows):
        shown, value = dict(zip((c.header for c in table.columns), expected.cells))[top1]
        assert row[top1] == entry["cells"][top1]["text"] == shown
        assert float(row[top1 + NUMBER_SUFFIX]) == entry["cells"][top1]["value"] == pytest.approx(value)
        assert row["runs"].split() == entry["runs"] == [run["key"] for run in expected.runs]
    for name in ("digits", "index"):
        lines = (site / "downloads" / name / "records.jsonl").read_text().splitlines()
        assert {json.loads(line)["key"] for line in lines} == {r["key"] for r in built["records"]}
    assert 'href="downloads/digits/records.jsonl"' in task


def test_method_pages_say_paper_code_figures_and_tasks(built):
    nola = _page(built, "methods/nola.html")
    paper = _of(built, "nola", 0)["method"]["paper"]
    assert paper["title"] in nola and paper["venue"] in nola and f'href="{paper["code"]}"' in nola
    assert "weight compression" in nola and 'href="../digits.html"' in nola
    elsewhere = _of(built, "nola", 0)["reported_elsewhere"][0]
    assert str(elsewhere["value"]) in nola and elsewhere["source"].split(" (")[0] in nola
    gaps = {task: why for task, why in built["support"]["nola"].items() if why is not None}
    shown = nola.replace("&#39;", "'").replace(' class="prose"', "")
    assert gaps and all(f"<td>{task}</td><td>{why}</td>" in shown for task, why in gaps.items())
    assert 'href="methods/nola.html"' in _page(built, "index.html")
    alone = built["root"] / "alone"
    build_site(built["records"], alone, built["night2"])  # no registry given: nothing said of other tasks
    assert "not installed where this site was built" in (alone / "methods" / "lora.html").read_text()


def test_history_names_entries_by_commit_and_time_and_marks_the_regression(built):
    entries = read_history(built["history"])
    assert len(entries) == 3 and "timing" not in entries[0]["rows"][0]  # the old line reads as it is
    night1, night2 = (f"{entries[i]['commits'][0][:8]} 2026-12-06 {t}" for i, t in ((1, "03:17"), (2, "21:05")))
    index, task = _page(built, "index.html"), _page(built, "digits.html")
    assert night1 in index and night2 in index and "1 regression." in index
    history = task.split('id="smoke-history"')[1]
    assert f"<th>{night1}</th>" in history and f"<th>{night2}</th>" in history and "<th>unknown 2026-12-05</th>" in history
    lora = next(row for row in history.split("</table>")[0].split("<tr>") if ">lora [cpu" in row)
    assert lora.count("gate-regression") == 1 and "accuracy/top1" in lora
    assert "latency/" in history.split("</h3>")[0]  # headline and latency tracked
    marked = [row for row in entries[2]["rows"] if row.get("gate")]
    assert [row["method"] for row in marked] == ["lora"] and all(row.get("timing") for row in entries[2]["rows"])
    graphs = sorted(p.name for p in (built["site"] / "plots" / "digits" / "history").iterdir())
    assert any(name.startswith("smoke-default-lora") for name in graphs)
    assert all(f'src="plots/digits/history/{name}"' in task for name in graphs)


def test_compare_page_is_tables_of_the_gates_report(built):
    page = _page(built, "compare.html")
    assert "<pre>" not in page and "1 regression." in page
    regressions = page.split('id="findings-regression"')[1].split("</table>")[0]
    regressed = next(f for f in built["report"]["findings"] if f["change"] == "regression")
    assert regressed["keys"] and all(key.startswith("n2") for key in regressed["keys"])  # HEAD's runs
    assert "accuracy/top1" in regressions and all(f'href="runs/{key}.html"' in regressions for key in regressed["keys"])
    assert 'id="unchanged-counts"' in page and 'id="not-compared-table"' in page  # seed 7 is only in HEAD


def test_publish_appends_the_gates_findings_and_refuses_a_markdown_report(built, tmp_path):
    history = tmp_path / "history.jsonl"
    shutil.copy(built["history"], history)
    done = run_cli("publish", "--out", str(tmp_path / "site"), "--history", str(history), "--append-history",
                   "--compare", str(built["root"] / "compare.json"), results=built["night2"])
    assert done.returncode == 0, done.stderr
    appended = read_history(history)[-1]
    assert appended["gate"]["regression"] == 1 and (tmp_path / "site" / "compare.html").exists()
    markdown = tmp_path / "compare.md"
    markdown.write_text("# ucdbench compare\n")
    refused = run_cli("publish", "--out", str(tmp_path / "other"), "--compare", str(markdown), results=built["night2"])
    assert refused.returncode == 2 and "ucdbench compare BASE HEAD --json FILE" in refused.stderr


def test_entries_that_would_read_the_same_are_named_to_the_second():
    from ucdbench.reporting.site.history import entry_labels

    entries = [{"commits": ["abc1234567"], "date": "2026-12-06T03:17:05+00:00"},
               {"commits": ["abc1234567"], "date": "2026-12-06T03:17:41+00:00"},
               {"commits": ["def7654321", "0123456789"], "date": "2026-12-06T03:17:41+00:00"},
               {"commits": [], "date": "2026-12-07T03:17:00+00:00"}]
    assert entry_labels(entries) == ["abc12345 2026-12-06 03:17:05", "abc12345 2026-12-06 03:17:41",
                                     "2 commits 2026-12-06 03:17", "unknown 2026-12-07 03:17"]
