"""The static site of `ucdbench publish`: built from hand-made records, and opened in a real browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import run_cli
from test_leaderboard import _section_record

from ucdbench.reporting.claims import Claim, RowSelector
from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.reporting.site import append_history, build_site, read_history
from ucdbench.running.store import SCHEMA_VERSION

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a5e8b3a90000000049454e44ae426082")


def _results(tmp_path: Path) -> tuple[Path, list[dict]]:
    """A results folder of two seeds of four rows, one with an attached image and a paper figure."""
    records = []
    for seed in (0, 1):
        records += [_section_record(f"full{seed}", "full-ft", seed, 90.0 + seed),
                    _section_record(f"lora{seed}", "lora", seed, 80.0 + 2 * seed, size_percent=2.0),
                    _section_record(f"avit{seed}", "avit", seed, 85.0 - seed, flops_ratio=0.7),
                    _section_record(f"slow{seed}", "slowformer", seed, 84.0, size_percent=0.05, flops_ratio=0.6,
                                    attack=True)]
    for record in records:
        record["environment"] = {"git_commit": "0123456789abcdef"}
        record["code"] = "fedcba9876543210"
        record["schema"] = SCHEMA_VERSION
        record["method"] |= {"plugin": record["method"]["name"], "distribution": "ucdbench", "version": "0.1.0"}
    records[1]["reported"] = [{"task": "digits", "metric": "top1", "value": 88.0, "setting": "the paper's",
                               "source": "p", "where": {}}]
    records[3]["attachments"] = [{"evaluation": "flops-under-attack", "caption": "the patch",
                                  "file": "attachments/slow0/flops-under-attack/patch.png"}]
    results = tmp_path / "results"
    (results / "runs").mkdir(parents=True)
    (results / "attachments/slow0/flops-under-attack").mkdir(parents=True)
    (results / "attachments/slow0/flops-under-attack/patch.png").write_bytes(PNG)
    for record in records:
        (results / "runs" / f"{record['key']}.json").write_text(json.dumps(record))
    failed = {**records[0], "key": "broken0", "status": "failed", "error": "diverged", "evaluations": {}}
    (results / "runs" / "broken0.json").write_text(json.dumps(failed))
    return results, [*records, failed]


CLAIM = Claim("LoRA beats full fine-tuning", "digits", ("accuracy/top1",), RowSelector("lora"), RowSelector("full-ft"),
              "smoke")


def test_the_site_has_every_row_its_code_version_and_its_records(tmp_path):
    results, records = _results(tmp_path)
    out = tmp_path / "site"
    pages = build_site(records, out, results, [CLAIM])
    assert [p.name for p in pages] == ["index.html", "digits.html"]
    index, task = pages[0].read_text(), pages[1].read_text()
    assert 'href="digits.html"' in index and "LoRA beats full fine-tuning" in index and "does not hold" in index
    for record in records:  # each run's record is in the site, as the results folder has it
        assert (out / "records" / f"{record['key']}.json").read_bytes() == \
            (results / "runs" / f"{record['key']}.json").read_bytes()
    assert 'href="records/lora0.json"' in task and 'href="records/broken0.json"' in task
    assert "0123456789" in task and "fedcba9876543210" in task  # commit and code fingerprint of every row
    assert 'data-sort="81.0"' in task and "81 ± 13" in task  # sortable by the mean, shown with its interval
    assert "88.0 (the paper&#39;s)" in task  # the paper's figure beside ours
    charts = sorted(p.name for p in (out / "plots" / "digits").iterdir())
    assert charts == ["smoke-default-attack.png", "smoke-default-compute.png", "smoke-default-storage.png"]
    assert all(f'src="plots/digits/{name}"' in task for name in charts)
    assert (out / "images" / "digits" / "slow0-flops-under-attack-patch.png").read_bytes() == PNG
    assert "http://" not in task + index and "https://" not in task + index  # nothing fetched from the network

    build_site(records, out, results)  # a second publish replaces the first
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a site")
    with pytest.raises(UcdbenchError, match="not a site"):
        build_site(records, tmp_path / "mine", results)
    assert (tmp_path / "mine" / "notes.txt").exists()


def test_history_appends_once_per_results_folder_and_shows_night_by_night(tmp_path):
    results, records = _results(tmp_path)
    history = tmp_path / "history.jsonl"
    assert append_history(history, records) and not append_history(history, records)  # the same folder twice
    later = [dict(r, key=r["key"] + "-night2") for r in records]
    for record in later:
        if record["method"]["name"] == "lora":
            record["evaluations"] = {**record["evaluations"], "accuracy": {"top1": 70.0}}
    assert append_history(history, later)
    entries = read_history(history)
    assert len(entries) == 2
    lora = [row for row in entries[1]["rows"] if row["method"] == "lora"]
    assert lora == [{"task": "digits", "preset": "smoke", "task_settings": "", "method": "lora", "settings": "",
                     "hardware": "cpu: Test CPU", "figure": "top1", "mean": 70.0, "half_width": 0.0, "n": 2}]
    assert entries[0]["ok"] == 8 and entries[0]["failed"] == 1
    build_site(later, tmp_path / "site", results, history=entries)
    task = (tmp_path / "site" / "digits.html").read_text()
    assert "history: top1" in task and "81 ± 13" in task.split("history: top1")[1]  # the first night's lora
    assert (tmp_path / "site" / "plots" / "digits" / "history-smoke-default.png").exists()

    history.write_text(history.read_text() + "{torn\n")
    with pytest.raises(UcdbenchError, match=r"history.jsonl:3: not a JSON line"):
        read_history(history)


def test_publish_writes_the_site_and_appends_the_history_once(tmp_path):
    results, _ = _results(tmp_path)
    out, history = tmp_path / "site", tmp_path / "history.jsonl"
    for _ in range(2):
        done = run_cli("publish", "--out", str(out), "--history", str(history), "--append-history", results=results)
        assert done.returncode == 0, done.stderr
    assert "index.html (1 task pages" in done.stdout and (out / "digits.html").exists()
    assert len(history.read_text().splitlines()) == 1
    usage = run_cli("publish", "--out", str(out), "--append-history", results=results)
    assert usage.returncode == 2 and "--append-history needs --history FILE" in usage.stderr
    empty = run_cli("publish", "--out", str(out), results=tmp_path / "nothing")
    assert empty.returncode == 2 and "no successful runs" in empty.stderr


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_the_site_works_in_a_real_browser(tmp_path):
    """Headless Chromium opens the site from file://: every index link resolves, a table sorts when
    its header is clicked, every chart loads, and a row's record is one click away."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("no Chromium on this machine: install the distribution's (apt-get install chromium; .ci/run does)")
    results, records = _results(tmp_path)
    index = build_site(records, tmp_path / "site", results, [CLAIM])[0]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path)
        page = browser.new_page()
        page.goto(index.as_uri())
        links = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        assert len(links) >= 4
        for link in dict.fromkeys(links):
            page.goto(link)  # a missing file raises net::ERR_FILE_NOT_FOUND
            assert page.locator("h1").count() == 1 and page.title()

        page.goto(index.as_uri().replace("index.html", "digits.html"))
        assert page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)") == [True] * 4
        table = page.locator("h3:text-is('accuracy') + div table")

        def column(n: int) -> list[str]:
            return table.locator(f"tbody tr td:nth-child({n})").all_inner_texts()

        assert column(1) == ["full-ft", "avit", "slowformer", "lora"]  # top1 ↑: best first, as in the markdown
        table.locator("th:text-is('method')").click()
        assert column(1) == ["avit", "full-ft", "lora", "slowformer"]
        table.locator("th:text-is('top1 (%) ↑')").click()  # ↑: the first click puts the highest first
        assert [float(v.split()[0]) for v in column(3)] == [90.5, 84.5, 84.0, 81.0]
        table.locator("th:text-is('top1 (%) ↑')").click()
        assert [float(v.split()[0]) for v in column(3)] == [81.0, 84.0, 84.5, 90.5]

        table.locator("a", has_text="seed 0").first.click()
        assert json.loads(page.locator("body").inner_text())["key"] == "lora0"
        browser.close()
