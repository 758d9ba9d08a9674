"""The static site of `ucdbench publish`: built from hand-made records; and, built from the records
of a real smoke experiment, opened in a real browser (headless Chromium through Playwright)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

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
    assert 'href="runs/lora0.html"' in task and 'href="records/broken0.json"' in task  # a row's seed: its run's page
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
    graphs = list((tmp_path / "site" / "plots" / "digits" / "history").glob("smoke-default-*.png"))
    assert graphs and all(f'src="plots/digits/history/{graph.name}"' in task for graph in graphs)  # a graph per row

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


# --------------------------------------------------------------------------------------------
# The site in a real browser, built from the records of a real (smoke) experiment
# --------------------------------------------------------------------------------------------

EXPERIMENT = """
[experiment]
description = "the browser test's site: a reference, a baseline, LoRA and NOLA (a method with a paper), two seeds, in two task settings"
task = "digits"
preset = "smoke"
seeds = [0, 1]
threads = 1

[[runs]]
methods = ["base", "lora", "full-ft", "nola"]

[[runs]]
methods = ["lora", "full-ft"]
set = { "task.label_noise" = 0.25 }

[[claims]]
name = "LoRA beats full fine-tuning"
task = "digits"
figure = "accuracy/top1"
higher_is_better = true
better = { method = "lora" }
than = { method = "full-ft" }

[[views]]
question = "Does LoRA keep full fine-tuning's accuracy, with and without label noise, at what latency?"
task = "digits"
rows = [{ method = "lora" }, { method = "full-ft" }]
columns = ["accuracy/top1", "latency/p50_ms"]
rank_by = "accuracy/top1"
"""
WIDTHS = (390, 1300)
"""Window widths no page may overflow sideways: a phone's, and a laptop's."""
HOW_TO_GET_CHROMIUM = ("install the distribution's Chromium (`sudo apt-get install chromium`; .ci/run does it when "
                       "root) or Playwright's (`.venv/bin/playwright install chromium`), and Playwright itself with "
                       "`pip install -e '.[test]'`")


def _missing(what: str) -> None:
    """Skip for want of a browser; under CI (``CI`` true) fail, so CI never passes without the browser tests."""
    message = f"{what}: {HOW_TO_GET_CHROMIUM}"
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"CI runs the browser tests, and {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Chromium: the distribution's where there is one, else Playwright's own."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed")
    with sync_playwright() as playwright:
        path = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
        if path is None and not Path(playwright.chromium.executable_path).is_file():
            _missing("no Chromium on this machine")
        browser = playwright.chromium.launch(executable_path=path)
        yield browser
        browser.close()


@dataclass(frozen=True)
class Site:
    """A site `ucdbench publish` wrote from a smoke experiment's records."""

    index: Path
    records: list[dict]

    def page(self, name: str, fragment: str = "") -> str:
        return (self.index.parent / name).as_uri() + (f"#{fragment}" if fragment else "")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    """Run the experiment through the command line, compare its results with themselves (the
    compare page), and publish them with its claims, views and a history of one night."""
    root = tmp_path_factory.mktemp("browser")
    experiment, results, report = root / "site.toml", root / "results", root / "compare.json"
    experiment.write_text(EXPERIMENT)
    for command in (("run", "-f", str(experiment)), ("compare", str(results), str(results), "--json", str(report)),
                    ("publish", "-f", str(experiment), "--out", str(root / "site"), "--compare", str(report),
                     "--history", str(root / "history.jsonl"), "--append-history")):
        done = run_cli(*command, results=results)
        assert done.returncode == 0, done.stdout + done.stderr
    records = [json.loads(path.read_text()) for path in sorted((results / "runs").glob("*.json"))]
    assert len(records) == 12 and all(r["status"] == "ok" for r in records)
    return Site(root / "site" / "index.html", records)


@dataclass
class Crawl:
    """What following every link from the index found, page by page."""

    ids: dict[str, list[str]] = field(default_factory=dict)  # every page's element ids
    broken: list[str] = field(default_factory=list)
    fragments: list[tuple[str, str, str]] = field(default_factory=list)  # (page, #id, on page)
    overflow: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    off_site: list[str] = field(default_factory=list)
    swatches: list[tuple[str, str, str]] = field(default_factory=list)  # (page, method, colour)
    files: list[Path] = field(default_factory=list)  # every file a link names, pages apart
    external: list[tuple[str, str]] = field(default_factory=list)  # (page, link): a paper's page, its code


def _file(url: str) -> Path:
    return Path(unquote(urlparse(url).path))


@pytest.fixture(scope="module")
def crawl(browser, site) -> Crawl:
    """Every page reachable from the index, each looked at 390 and 1,300 pixels wide."""
    found = Crawl()
    context = browser.new_context()
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and found.errors.append(f"{page.url}: {message.text}"))
    page.on("pageerror", lambda error: found.errors.append(f"{page.url}: {error}"))
    context.on("request", lambda request: request.url.startswith("file:") or found.off_site.append(request.url))
    queue = [site.index.as_uri()]
    while queue:
        url = queue.pop(0)
        if url in found.ids:
            continue
        page.set_viewport_size({"width": WIDTHS[-1], "height": 900})
        page.goto(url)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            wide = page.evaluate("document.documentElement.scrollWidth")
            if wide > width:
                found.overflow.append(f"{_file(url).name} is {wide} px wide in a {width} px window")
        found.ids[url] = page.eval_on_selector_all("[id]", "nodes => nodes.map(n => n.id)")
        found.broken += [f"{_file(url).name}: image {src}" for src in page.eval_on_selector_all(
            "img", "images => images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")]
        found.swatches += [(url, method, colour) for method, colour in page.eval_on_selector_all(
            ".swatch[data-method]", "nodes => nodes.map(n => [n.dataset.method, getComputedStyle(n).backgroundColor])")]
        for link, download in page.eval_on_selector_all(
                "a[href]", "links => links.map(a => [a.href, a.hasAttribute('download')])"):
            target, _, fragment = link.partition("#")
            if urlparse(link).scheme in ("http", "https"):
                found.external.append((_file(url).name, link))  # a link out, never followed (no network)
            elif urlparse(link).scheme != "file" or not _file(target).is_file():
                found.broken.append(f"{_file(url).name}: {link}")
            elif target.endswith(".html") and not download:
                queue.append(target)
                if fragment:
                    found.fragments.append((target, unquote(fragment).partition("?")[0], url))
            else:
                found.files.append(_file(target))
    context.close()
    return found


def test_every_link_of_every_page_resolves(crawl, site):  # crawl first: no browser, no experiment run
    assert {_file(url).name for url in crawl.ids} >= {"index.html", "digits.html", "compare.html"}
    assert not crawl.broken, "links or images to nothing:\n" + "\n".join(crawl.broken)
    missing = [f"{_file(on).name}: #{anchor} on {_file(page).name}" for page, anchor, on in crawl.fragments
               if anchor and anchor not in crawl.ids[page]]
    assert not missing, "links to an element no page has:\n" + "\n".join(missing)
    top = site.index.parent
    pages = {_file(url).relative_to(top).as_posix() for url in crawl.ids}
    assert pages >= {f"runs/{r['key']}.html" for r in site.records} | {f"methods/{r['method']['name']}.html"
                                                                        for r in site.records}
    assert {p.relative_to(top).as_posix() for p in crawl.files} >= {f"records/{r['key']}.json" for r in site.records}
    assert crawl.external and not [link for link in crawl.external if not link[1].startswith("https://")]


def test_no_page_errs_fetches_off_the_site_or_overflows_sideways(crawl):
    assert not crawl.errors, "console errors:\n" + "\n".join(crawl.errors)
    assert not crawl.off_site, f"requests off file:// (the site must work offline): {crawl.off_site}"
    assert not crawl.overflow, "\n".join(crawl.overflow)


def test_ids_are_unique_and_every_table_and_row_has_a_permalink(browser, site, crawl):
    for url, ids in crawl.ids.items():
        assert len(ids) == len(set(ids)), f"{_file(url).name} repeats ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    page = browser.new_page(viewport={"width": WIDTHS[0], "height": 700})
    for name in ("index.html", "digits.html", "compare.html", "methods/lora.html"):
        page.goto(site.page(name))  # a table's permalink is its block's (with its downloads), else its own
        unlinked = page.evaluate("""() => [...document.querySelectorAll('table')].filter(t => t.tHead).flatMap(t =>
            [t.closest('.table-block') || t, ...t.querySelectorAll('tr[data-anchor]')].filter(n =>
              !n.id || !document.querySelector(`a.permalink[href="#${CSS.escape(n.id)}"]`)).map(n => n.outerHTML.slice(0, 80)))""")
        assert not unlinked, f"{name}: tables or rows without a permalink: {unlinked}"
    page.goto(site.page("digits.html"))
    last_row = page.evaluate("[...document.querySelectorAll('tr[data-anchor]')].pop().id")
    page.goto(site.page("digits.html", last_row))  # a permalink: the page opens at the row, highlighted
    row = page.locator(f"[id='{last_row}']")
    assert "highlight" in row.get_attribute("class")
    box, height = row.bounding_box(), page.evaluate("innerHeight")
    assert box["y"] >= 0 and box["y"] + box["height"] <= height
    page.close()


def test_every_page_shows_a_method_in_the_colour_of_its_charts(crawl, site):
    from ucdbench.reporting.charts import MethodColours

    colours = MethodColours.of_records(site.records)
    assert {method for _, method, _ in crawl.swatches} == {r["method"]["name"] for r in site.records}
    wrong = [f"{_file(url).name}: {method} in {colour}" for url, method, colour in crawl.swatches
             if colour != "rgb({}, {}, {})".format(*bytes.fromhex(colours.colour(method)[1:]))]
    assert not wrong, f"swatches not in their method's chart colour: {wrong}"


def _table_with_directions(page) -> str:
    """The permalink of the first table with a column better higher (↑) and one better lower (↓)."""
    return page.evaluate("""() => { const t = [...document.querySelectorAll('table')].find(t =>
        t.querySelector('th[data-better=higher]') && t.querySelector('th[data-better=lower]'));
        return (t.closest('.table-block') || t).id; }""")


def _table(table: str) -> str:
    """A selector of the table whose permalink is ``table``: the table in the block of that id, or the table of it."""
    return f":is([id='{table}'] table, table[id='{table}'])"


def _toolbar(page, table: str):
    """The search box, filters and column list of ``table``: the bar just above its scroll box."""
    return page.locator(f"[id='{table}'] > div.toolbar, div.toolbar:has(+ div.scroll > table[id='{table}'])")


def _column_values(page, table: str, column: int) -> list[tuple[float | None, int]]:
    """Each row's (sort value, place on the page as written), top to bottom."""
    return page.evaluate("""([table, column]) => [...document.querySelector(table).tBodies[0].rows].map(r =>
        [r.cells[column].dataset.sort === undefined ? null : parseFloat(r.cells[column].dataset.sort),
         parseInt(r.dataset.order)])""", [_table(table), column])


def _sorted_as_asked(values: list[tuple[float | None, int]], descending: bool) -> bool:
    """Numbers in order, rows without one last, and ties in the page's own order."""
    numbers = [v for v in values if v[0] is not None]
    if values[:len(numbers)] != numbers:
        return False
    keys = [(-v if descending else v, order) for v, order in numbers]
    return keys == sorted(keys) and [o for v, o in values[len(numbers):]] == sorted(o for v, o in values[len(numbers):])


def test_headers_sort_from_the_keyboard_both_ways_with_aria_sort(browser, site):
    page = browser.new_page()
    page.goto(site.page("digits.html"))
    table = _table_with_directions(page)
    headers = page.locator(f"{_table(table)} thead th")
    better = page.eval_on_selector_all(f"{_table(table)} thead th", "ths => ths.map(th => th.dataset.better || null)")
    # ↓, then ↑ (whose second press leaves the page's best-first rows upside down), then seeds, which every
    # row ties on: its rows go back to the page's order, both ways
    columns = {"lower": better.index("lower"), "higher": better.index("higher"), None: better.index(None, 1)}
    assert headers.nth(columns[None]).inner_text() == "seeds"
    _toolbar(page, table).locator("input[type=search]").focus()
    for _ in range(40):  # Tab from the table's search box reaches its first header's button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('th') !== null"):
            break
    assert page.evaluate("document.activeElement.tagName") == "BUTTON"
    for direction, column in columns.items():
        button = headers.nth(column).locator("button")
        button.focus()
        page.keyboard.press("Enter")  # the first press: best first (↑ highest, ↓ lowest; ascending without a direction)
        first = "descending" if direction == "higher" else "ascending"
        assert headers.nth(column).get_attribute("aria-sort") == first
        assert [headers.nth(i).get_attribute("aria-sort") for i in range(headers.count()) if i != column] == \
            [None] * (headers.count() - 1)
        assert _sorted_as_asked(_column_values(page, table, column), first == "descending"), (direction, first)
        page.keyboard.press("Space")  # the second: the other way
        second = "ascending" if first == "descending" else "descending"
        assert headers.nth(column).get_attribute("aria-sort") == second
        assert _sorted_as_asked(_column_values(page, table, column), second == "descending"), (direction, second)
    page.close()


def _shown(page, table: str) -> list[dict]:
    """The rows of ``table`` a reader sees, top to bottom: the keys of the runs each one links to, and its text."""
    return page.evaluate("""table => [...document.querySelector(table).tBodies[0].rows]
        .filter(row => row.checkVisibility())
        .map(row => ({keys: [...row.querySelectorAll('a[href^="runs/"], a[href^="records/"]')]
                              .map(a => a.href.split('/').pop().replace(/\\.(json|html)$/, '')),
                      text: row.textContent}))""", _table(table))


def _facets_of(records: list[dict]) -> dict[str, dict[str, str]]:
    """Each run's facets as its record gives them, by key: what a reader filters by."""
    from ucdbench.reporting.records import hardware_label

    return {r["key"]: {"family": r["method"]["family"], "hardware": hardware_label(r["hardware"]), "preset": r["preset"],
                       "task.label_noise": str(r["task"]["config"]["label_noise"])} for r in records}


def test_filters_search_and_columns_change_what_a_reader_sees_and_the_link_keeps_them(browser, site):
    facets = _facets_of(site.records)
    page = browser.new_page()
    page.goto(site.page("digits.html"))
    table = _table_with_directions(page)  # the view: LoRA and full fine-tuning in both task settings
    bar = _toolbar(page, table)
    every = _shown(page, table)
    assert len(every) == 4 and all(row["keys"] for row in every)
    offered = bar.locator("select[data-facet]").evaluate_all("selects => selects.map(s => s.dataset.facet)")
    assert offered == ["family", "task.label_noise"]  # the facets that tell this table's rows apart
    for facet in offered:
        select = bar.locator(f"select[data-facet='{facet}']")
        values = select.locator("option").all_inner_texts()[1:]
        assert sorted(values) == sorted({facets[row["keys"][0]][facet] for row in every})
        for value in values:
            select.select_option(value)
            expected = [row for row in every if all(facets[key][facet] == value for key in row["keys"])]
            assert _shown(page, table) == expected and 0 < len(expected) < len(every)
        select.select_option("")
        assert _shown(page, table) == every
    search = bar.locator("input[type=search]")
    search.fill("LoRA")  # any case; every word must appear in the row
    assert _shown(page, table) == [row for row in every if "lora" in row["text"]] and len(_shown(page, table)) == 2
    search.fill("lora nothing-has-this")
    assert _shown(page, table) == [] and bar.locator(".count").inner_text() == f"0 of {len(every)} rows"
    search.fill("full")
    bar.locator("select[data-facet='task.label_noise']").select_option("0.25")
    chosen = _shown(page, table)
    assert len(chosen) == 1 and "full-ft" in chosen[0]["text"] and facets[chosen[0]["keys"][0]]["task.label_noise"] == "0.25"

    bar.locator("summary", has_text="columns").click()
    bar.locator("input[data-column='hardware']").uncheck()  # hide a column: its header and every cell go
    header = page.locator(f"{_table(table)} th", has_text="hardware")
    assert not header.is_visible()
    assert page.locator(f"{_table(table)} tbody td:visible", has_text="cpu:").count() == 0

    shared = browser.new_page()  # the URL carries the search, the filter and the hidden column: a link to this view
    shared.goto(page.url)
    assert _shown(shared, table) == chosen
    assert _toolbar(shared, table).locator("input[type=search]").input_value() == "full"
    assert not shared.locator(f"{_table(table)} th", has_text="hardware").is_visible()
    shared.close()
    bar.locator("input[data-column='hardware']").check()
    assert header.is_visible()
    page.close()


def test_downloads_parse(browser, site):
    """Each task-page table links its CSV and JSON beside it (``downloads/<page>/<table-id>.csv|.json``,
    named by its permalink): the CSV a line per row the table shows, the JSON those rows with the runs
    each row links; and the index and the task page link their records as one JSON Lines file."""
    top, page = site.index.parent, browser.new_page()
    page.goto(site.page("digits.html"))
    blocks = page.evaluate("""() => [...document.querySelectorAll('.table-block')].map(block => ({id: block.id,
        downloads: [...block.querySelectorAll('a[download]')].map(a => a.href),
        runs: [...block.querySelector('table').tBodies[0].rows].map(row =>
          [...row.querySelectorAll('a[href^="runs/"]')].map(a => a.href.split('/').pop().replace(/\\.html$/, '')))}))""")
    assert len(blocks) >= 3 and any(any(block["runs"]) for block in blocks)  # the view and the sections' tables
    for block in blocks:
        table = block["id"]
        assert sorted(_file(link).relative_to(top).as_posix() for link in block["downloads"]) == \
            [f"downloads/digits/{table}.csv", f"downloads/digits/{table}.json"]
        text = (top / "downloads" / "digits" / f"{table}.csv").read_text()
        header, *body = csv.reader(io.StringIO(text))
        assert len(text.splitlines()) == len(body) + 1 == len(block["runs"]) + 1, table  # a line per row
        assert all(len(row) == len(header) for row in body) and header[-1] == "runs"
        assert [row[-1].split() for row in body] == block["runs"], table
        data = json.loads((top / "downloads" / "digits" / f"{table}.json").read_text())
        assert data["table"] == table and [row["runs"] for row in data["rows"]] == block["runs"]
    for name in ("index.html", "digits.html"):
        page.goto(site.page(name))
        lines = page.eval_on_selector_all("a[download][href$='.jsonl']", "links => links.map(a => a.href)")
        assert [_file(link).relative_to(top).as_posix() for link in lines] == \
            [f"downloads/{name.removesuffix('.html')}/records.jsonl"]
        keys = [json.loads(line)["key"] for line in _file(lines[0]).read_text().splitlines()]
        assert sorted(keys) == sorted(r["key"] for r in site.records), name
    page.close()
