"""The committed leaderboards are what their committed records give: every page set whose index
names the command that rebuilds it (``ucdbench leaderboard --keep-records``) is rebuilt from its
records in a copy of the repository's pages and must come out the same but for the generation
time, and every claim's p-value is recomputed from the records and found on the index."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

from conftest import run_cli
from ucdbench.reporting.audit import RECORDS, rebuild_command
from ucdbench.cli.experiments import load_experiment
from ucdbench.reporting.claims import judge_claims
from ucdbench.running.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
INDEXES = sorted(path for path in (ROOT / "leaderboards").rglob("README.md")
                 if "## Rebuilding these pages" in path.read_text())


def _command(index: Path) -> list[str]:
    """The rebuild command the index names (its one indented ``ucdbench leaderboard`` line)."""
    (line,) = [line.strip() for line in index.read_text().splitlines()
               if line.startswith("    ucdbench leaderboard ")]
    return shlex.split(line)[1:]


def _without_generation_time(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("Generated "))


def test_the_committed_leaderboards_keep_their_records():
    assert INDEXES, "no committed page set names the command that rebuilds it from its records"
    for index in INDEXES:
        assert (index.parent / RECORDS / "runs").is_dir(), f"{index} names records it does not keep"


@pytest.mark.parametrize("index", INDEXES, ids=[str(i.parent.relative_to(ROOT)) for i in INDEXES])
def test_a_committed_page_set_is_rebuilt_the_same_from_its_records(index, tmp_path):
    args = _command(index)
    out = Path(args[args.index("--out") + 1])
    experiments = [Path(args[i + 1]) for i, arg in enumerate(args) if arg == "-f"]
    assert " ".join(["ucdbench", *args]) == rebuild_command(out, experiments)  # the command this code writes
    for folder in ("leaderboards", "experiments"):  # a copy: the test writes nothing into the repository
        shutil.copytree(ROOT / folder, tmp_path / folder)
    rebuilt = run_cli(*args, cwd=tmp_path, timeout=900)
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    pages = [Path(line) for line in rebuilt.stdout.splitlines() if line.endswith(".md")]
    assert pages, rebuilt.stdout
    for page in pages:
        committed = ROOT / page
        assert committed.is_file(), f"{page} is built from the records but not committed"
        assert _without_generation_time((tmp_path / page).read_text()) == _without_generation_time(
            committed.read_text()), f"{page} differs from what its committed records give: rebuild it with the command in {index}"
    charts = {p.relative_to(tmp_path / out) for p in (tmp_path / out).rglob("*-plots/*.png")}
    assert charts == {p.relative_to(ROOT / out) for p in (ROOT / out).rglob("*-plots/*.png")}


@pytest.mark.parametrize("index", INDEXES, ids=[str(i.parent.relative_to(ROOT)) for i in INDEXES])
def test_every_claim_s_p_value_is_recomputed_from_the_kept_records(index):
    args = _command(index)
    records, skipped = RunStore(ROOT / args[args.index("--results") + 1]).scan()
    assert not skipped and records
    text = index.read_text()
    for path in (args[i + 1] for i, arg in enumerate(args) if arg == "-f"):
        claims = load_experiment(ROOT / path).claims
        for verdict in judge_claims(claims, records):
            line = next((line for line in text.splitlines() if line.startswith(f"| {verdict.claim.name} |")
                         and f"| {verdict.claim.task} | {verdict.figure} |" in line
                         and f"| {verdict.hardware} |" in line), None)  # a claim may be stated on several tasks
            assert line is not None, f"{index}: no line for claim {verdict.claim.name!r} on {verdict.figure}"
            verdict_text = verdict.verdict if verdict.comparison is None else f"**{verdict.verdict}**"
            assert f"| {verdict.p()} |" in line and verdict_text in line, line
