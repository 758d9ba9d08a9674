"""The papers' figures the built-in methods declare: each read from docs/REPORTED.md (the list of
figures reachable in public sources, a copy of the project's ../shared/REPORTED.md), cited by a
source it names, standing beside a run only where every pinned setting matches; and the
leaderboard's "other settings" section shows each once with its setting spelled out, and says
once per method where a paper's tables could not be reached."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ucdbench.reporting.leaderboard import _figures_elsewhere
from ucdbench.discovery.registry import load_registry

REPORTED = (Path(__file__).resolve().parents[1] / "docs" / "REPORTED.md").read_text()


def _methods() -> dict[str, type]:
    registry = load_registry()
    return {name: registry.load("method", name) for name in registry.names("method")
            if registry.get("method", name).builtin}


METHODS = _methods()
FIGURES = [(name, figure) for name, cls in METHODS.items() for figure in cls.reported]


def _repositories() -> dict[str, str]:
    """owner/name → commit, from REPORTED.md's table of repositories."""
    rows = re.findall(r"^\| ([\w.-]+/[\w.-]+)[^|]* \| ([0-9a-f]{40}) \|$", REPORTED, flags=re.MULTILINE)
    return dict(rows)


def _numbers() -> set[float]:
    return {float(token) for token in re.findall(r"(?<![\w.])\d+(?:\.\d+)?", REPORTED.replace(",", ""))}


def test_reported_md_lists_the_repositories_and_the_methods_declare_figures():
    assert "UCDvision/CMSF" in _repositories() and len(_repositories()) >= 10
    assert len(FIGURES) >= 20


@pytest.mark.parametrize("name, figure", FIGURES, ids=[f"{n}:{f.metric}={f.value}" for n, f in FIGURES])
def test_every_figure_cites_a_source_reported_md_names_and_a_value_it_gives(name, figure):
    cited = re.findall(r"([\w.-]+/[\w.-]+) @([0-9a-f]{7,40})", figure.source)
    repositories = _repositories()
    assert cited, f"{name}: {figure.source!r} names no repository @commit"
    for repository, commit in cited:
        assert repository in repositories, f"{name}: {repository} is not in REPORTED.md"
        assert repositories[repository].startswith(commit), f"{name}: {repository} @{commit} is not REPORTED.md's"
    assert float(figure.value) in _numbers(), f"{name}: {figure.value} does not appear in REPORTED.md"


@pytest.mark.parametrize("name, figure", FIGURES, ids=[f"{n}:{f.metric}={f.value}" for n, f in FIGURES])
def test_a_figure_applies_only_where_every_pinned_setting_matches(name, figure):
    assert figure.where, f"{name}: {figure.metric}={figure.value} pins no setting"
    method = {k: v for k, v in figure.where.items() if not k.startswith("task.")}
    task = {k[5:]: v for k, v in figure.where.items() if k.startswith("task.")}
    assert figure.applies_to(figure.task, method, task)
    assert not figure.applies_to("another-task", method, task)
    for key in figure.where:
        other_method = {**method, key: "another value"} if key in method else method
        other_task = {**task, key[5:]: "another value"} if key[5:] in task and key.startswith("task.") else task
        assert not figure.applies_to(figure.task, other_method, other_task), f"{name}: {key} is not checked"


def test_the_settings_of_figures_of_one_method_and_figure_tell_them_apart():
    for name, cls in METHODS.items():
        seen: dict[tuple, str] = {}
        for figure in cls.reported:
            key = (figure.task, figure.metric, figure.setting)
            assert key not in seen, f"{name}: {figure.value} and {seen[key]} print the same setting {figure.setting!r}"
            seen[key] = figure.value


def _record(method: str, seed: int) -> dict:
    cls = METHODS[method]
    figures = [{**vars(f), "where": dict(f.where)} for f in cls.reported]
    return {"method": {"name": method}, "seed": seed, "reported": [], "reported_elsewhere": figures,
            "reported_unavailable": cls.reported_unavailable}


def test_cmsf_2q_and_km_show_as_two_settings_each_once():
    table = _figures_elsewhere([_record("cmsf", 0), _record("cmsf", 1)])
    cells = [[text for text, _ in row.cells] for row in table.rows]
    linear = {cell[3]: cell[4] for cell in cells if cell[2] == "linear-probe/probe_top1" and cell[3] in ("73.0", "72.9")}
    assert set(linear) == {"73.0", "72.9"}
    assert "constraint=2q" in linear["73.0"] and "constraint=km" in linear["72.9"]
    assert "CMSF-2Q" in linear["73.0"] and "CMSF-KM" in linear["72.9"]
    assert len(cells) == len({tuple(cell) for cell in cells}) == len(METHODS["cmsf"].reported)


def test_a_figure_beside_a_row_is_not_repeated_among_the_other_settings():
    shown, *elsewhere = METHODS["cmsf"].reported
    record = _record("cmsf", 0)
    record["reported"] = [{**vars(shown), "where": dict(shown.where)}]
    record["reported_elsewhere"] = [{**vars(f), "where": dict(f.where)} for f in elsewhere]
    table = _figures_elsewhere([record, _record("cmsf", 1)])
    assert len(table.rows) == len(elsewhere)


@pytest.mark.parametrize("method", ["genie", "genie-ada", "backdoor", "sima", "mcnc"])
def test_where_a_papers_tables_could_not_be_reached_the_page_says_so_once(method):
    assert METHODS[method].reported_unavailable
    table = _figures_elsewhere([_record(method, 0), _record(method, 1), _record("msf", 0)])
    notes = [row for row in table.rows if row.cells[0][0] == method and row.cells[3][0] == "no published figure reachable"]
    assert len(notes) == 1
    assert notes[0].cells[4][0] == METHODS[method].reported_unavailable


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_says_its_family_and_a_paper_names_its_venue_and_official_code(name):
    """The site's method pages and family filter read these: a paper's page and code must be
    links, and a method whose official code cannot be read says what it follows instead."""
    cls = METHODS[name]
    assert cls.family, f"{name} declares no family"
    if cls.paper is None:
        return
    assert re.fullmatch(r"(ICLR|ICCV|ECCV|CVPR|WACV|BMVC|arXiv) 20\d\d", cls.paper.venue), cls.paper.venue
    assert cls.paper.url.startswith("https://")
    assert cls.paper.code.startswith("https://github.com/") or cls.paper.code_note, \
        f"{name}: no official code and no note of what the implementation follows"
    repository = cls.paper.code.removeprefix("https://github.com/")
    assert not cls.paper.code or repository in _repositories(), f"{name}: {repository} is not in REPORTED.md"


def test_every_paper_of_the_suite_is_some_method_s():
    """The ten papers (MSF beside CMSF) each have a method that names them."""
    venues = {cls.paper.title.split(":")[0] for cls in METHODS.values() if cls.paper}
    assert venues >= {"MCNC", "NOLA", "PRANC", "SimA", "CompGS (first version Compact3D)", "SlowFormer",
                      "A Closer Look at Robustness of ViTs to Backdoor Attacks", "GeNIe", "SimReg", "CMSF",
                      "Mean Shift for Self-Supervised Learning"}
