"""The commands the documentation shows are the ones that are run.

The README's two commands are exactly CI's test command and the main job on the embedded default
task. Every ``ucdbench ...`` command of the README and of every page under ``docs/`` — a line of a
fenced shell block or an inline code span — parses with the command line as it is, names
methods, tasks, hardware and evaluations that are registered (or the pages' example plugins),
sets only settings its method, task or evaluation declares, and names experiment files that
exist. Synopsis notation is read as the pages use it: ``[...]`` is optional, ``a|b`` is a
choice (the first is checked), ``...`` repeats, and an all-capitals word is a placeholder.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from ucdbench.cli import build_parser, main

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
TOPIC_PAGES = sorted(page for page in DOCS.glob("*.md") if page.name != "REPORTED.md")  # REPORTED.md: a copy, kept as it is
SHELL = {"", "bash", "sh", "shell", "console"}
FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```", re.S | re.M)
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(:[A-Z]+)?$")  # RUN, RESULTS_DIR, HOST:PORT
PLACEHOLDER_VALUES = {"N": "1", "MIN": "60"}  # placeholders of typed options
INCOMPLETE = re.compile(r"the following arguments are required|expected (one|at least one) argument")
EXAMPLE_PLUGINS = {p.name for p in (DOCS / "examples").iterdir() if p.is_dir()} | {"my-method"}  # new-plugin's


def _commands() -> list[str]:
    return re.findall(r"```bash\n(python3 -m venv .+)\n```", (ROOT / "README.md").read_text())


def test_ci_runs_exactly_the_readme_test_command():
    test_command = next(c for c in _commands() if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_main_job_runs_on_the_default_task():
    main_job = next(c for c in _commands() if "ucdbench run" in c)
    assert "--task" not in main_job  # the embedded default


# --------------------------------------------------------------------------------------------
# Every ucdbench command of every page
# --------------------------------------------------------------------------------------------

def _shown_commands(page: Path) -> Iterator[tuple[str, str]]:
    """(where, text) of every shell line and inline code span of ``page`` that may hold a command."""
    text = page.read_text()
    for block in FENCE.finditer(text):
        if block["lang"] in SHELL:
            first = text.count("\n", 0, block.start()) + 2
            for offset, line in enumerate(block["body"].splitlines()):
                yield f"{page.relative_to(ROOT)}:{first + offset}", line
    prose = FENCE.sub("", text)
    for span in re.finditer(r"`([^`]+)`", prose):
        if span[1].strip().startswith("ucdbench "):
            yield f"{page.relative_to(ROOT)}: `{' '.join(span[1].split())}`", " ".join(span[1].split())


def _as_arguments(tokens: list[str]) -> list[str]:
    """A synopsis's tokens as one concrete command's arguments."""
    arguments = []
    for token in tokens:
        if token.startswith("["):
            token = token.lstrip("[")
        if token.endswith("]") and "[" not in token:
            token = token.rstrip("]")
        if token in ("...", "…", ""):
            continue
        if re.fullmatch(r"[\w.:/-]+(\|[\w.:/-]+)+", token):  # a choice: local|ray|slurm
            token = token.split("|")[0]
        arguments.append(PLACEHOLDER_VALUES.get(token, token))
    return arguments


def _ucdbench_arguments(line: str) -> Iterator[list[str]]:
    """The arguments of every ``ucdbench`` invocation in a shell line (comments dropped;
    commands joined by ``&&``, ``;`` or ``|`` apart; leading variable assignments skipped)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote: not a command
        return
    segment: list[str] = []
    for token in [*tokens, ";"]:
        if token in (";", "&&", "||", "|", "&"):
            words = segment
            while words and (words[0] in ("do", "then", "time") or re.fullmatch(r"\w+=\S*", words[0])):
                words = words[1:]
            if words and (words[0] == "ucdbench" or words[0].endswith("/bin/ucdbench")):
                yield _as_arguments(words[1:])
            segment = []
        else:
            segment.append(token)


def _all_commands() -> list[tuple[str, list[str]]]:
    return [(where, arguments) for page in PAGES for where, line in _shown_commands(page)
            for arguments in _ucdbench_arguments(line)]


COMMANDS = _all_commands()


def test_the_pages_show_commands_to_check():
    pages = {where.split(":")[0] for where, _ in COMMANDS}
    assert {"README.md", "docs/command-line.md", "docs/experiments.md", "docs/leaderboards.md"} <= pages
    assert any(arguments[:1] == ["run"] for _, arguments in COMMANDS)


def _parse(arguments: list[str]):
    """The namespace the command line gives ``arguments``, or the message it stops with."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            return build_parser().parse_args(arguments)
        except SystemExit as stop:
            return None if stop.code == 0 else err.getvalue().strip().splitlines()[-1]  # 0: --help


@cache
def _registered() -> dict[str, set[str]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["list", "--json"]) == 0
    return {kind: {entry["name"] for entry in entries}
            for kind, entries in json.loads(out.getvalue()).items() if kind in ("method", "task", "hardware", "evaluation")}


def _unknown_names(args) -> list[str]:
    known = _registered()
    named = [("method", name) for name in getattr(args, "method", None) or []]
    named += [(kind, getattr(args, kind)) for kind in ("task", "hardware") if getattr(args, kind, None)]
    named += [("evaluation", name) for name in getattr(args, "evaluation", None) or []]
    if args.command in ("show-settings", "check-plugin"):
        named += [(kind, args.name) for kind in ("method", "task", "hardware", "evaluation")
                  if args.name in known[kind]] or [("plugin", args.name)]
    return [f"{kind} {name!r}" for kind, name in named if not PLACEHOLDER.match(name)
            and name not in EXAMPLE_PLUGINS and name not in known.get(kind, set())]


def _missing_files(args) -> list[str]:
    files = getattr(args, "file", None) or []
    files = [files] if isinstance(files, str) else files
    return [path for path in files if not PLACEHOLDER.match(path) and "$" not in path and not (ROOT / path).is_file()]


@pytest.mark.parametrize("where,arguments", COMMANDS, ids=[where for where, _ in COMMANDS])
def test_a_shown_command_parses_and_names_what_exists(where, arguments):
    args = _parse(arguments)
    if isinstance(args, str) and "`" in where and INCOMPLETE.search(args):
        return  # prose naming a command or an option (`ucdbench compare`, `ucdbench run --method`), not a whole command
    assert not isinstance(args, str), f"{where}: `ucdbench {shlex.join(arguments)}` does not parse: {args}"
    if args is None:  # --help
        return
    assert not _unknown_names(args), f"{where}: no {', '.join(_unknown_names(args))} is registered"
    assert not _missing_files(args), f"{where}: no experiment file {', '.join(_missing_files(args))}"


@cache
def _settings(kind: str, name: str) -> set[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["show-settings", name, "--kind", kind, "--json"]) == 0
    return {setting["name"] for settings in json.loads(out.getvalue()).values() for setting in settings}


def _setting_owner(key: str, args) -> tuple[str, str, str]:
    """(kind, name, setting) that ``--set KEY=...`` sets on a run of ``args``."""
    if key.startswith("task."):
        return "task", args.task or "digits", key.removeprefix("task.")  # digits: the default task, as the pages say
    if key.startswith("eval."):
        evaluation, _, setting = key.removeprefix("eval.").partition(".")
        return "evaluation", evaluation, setting
    return "method", "", key


def test_every_shown_setting_is_declared():
    wrong = []
    for where, arguments in COMMANDS:
        args = _parse(arguments)
        for assignment in getattr(args, "assignments", None) or []:
            key = assignment.split("=", 1)[0]
            if PLACEHOLDER.match(key.split(".")[-1]):
                continue
            kind, name, setting = _setting_owner(key, args)
            owners = [name] if name else [m for m in args.method or [] if m not in EXAMPLE_PLUGINS]
            if owners and not any(setting in _settings(kind, owner) for owner in owners):
                wrong.append(f"{where}: --set {key}: no setting {setting!r} of {kind} {' or '.join(owners)}")
    assert not wrong, "\n".join(wrong)


# --------------------------------------------------------------------------------------------
# The README is the entrance; each docs page says what it holds and leads back
# --------------------------------------------------------------------------------------------

def test_the_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    unlinked = [page.name for page in [*TOPIC_PAGES, DOCS / "REPORTED.md"] if f"](docs/{page.name})" not in readme]
    assert not unlinked, f"README.md links no {unlinked}"


@pytest.mark.parametrize("page", TOPIC_PAGES, ids=[page.name for page in TOPIC_PAGES])
def test_a_docs_page_opens_with_a_summary_and_links_back_to_the_readme(page):
    title, summary, *_ = page.read_text().split("\n\n")
    assert title.startswith("# ") and "\n" not in title, f"{page.name} does not open with its title"
    assert summary.strip() and not summary.lstrip().startswith(("#", "|", "```", "- ", "[README]")), (
        f"{page.name}: the paragraph after the title must summarise the page")
    assert "](../README.md" in page.read_text(), f"{page.name} does not link back to the README"


def test_every_relative_link_of_the_pages_resolves():
    broken = []
    for page in PAGES:
        prose = re.sub(r"`[^`\n]*`", "", FENCE.sub("", page.read_text()))
        for link in re.finditer(r"\]\((?!https?:)([^)#\s]+)[^)]*\)", prose):
            if not (page.parent / link[1]).exists():
                broken.append(f"{page.relative_to(ROOT)}: {link[1]}")
    assert not broken, "links to nothing (a page moved?):\n" + "\n".join(broken)
