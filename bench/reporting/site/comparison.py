"""``compare.html``: the regression gate's report (``ucdbench compare --json FILE``) as tables —
the verdict, both folders, then regressions, improvements, runs that could not be compared,
accepted changes and directionless changes, the counts of what was unchanged, and what was not
compared and why; each finding's runs linked to their pages where the site has them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.reporting.site.common import Site


def read_compare_report(path: Path) -> dict[str, Any]:
    """The report ``ucdbench compare --json`` wrote at ``path``; a :class:`UcdbenchError` saying
    which file to give for anything else (the markdown report, another JSON)."""
    from ucdbench.reporting.compare import REPORT_FORMAT

    fix = "give the file `ucdbench compare BASE HEAD --json FILE` wrote"
    if not path.is_file():
        raise UcdbenchError(f"--compare {path}: no such file; {fix}")
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise UcdbenchError(f"--compare {path}: not JSON (the markdown report?); {fix}") from None
    if not isinstance(report, dict) or report.get("format") != REPORT_FORMAT:
        raise UcdbenchError(f"--compare {path}: not a compare report (no \"format\": \"{REPORT_FORMAT}\"); {fix}")
    return report


def write_compare_page(site: Site, report: Mapping[str, Any], keys: set[str]) -> Path:
    """``compare.html`` from ``report``; ``keys``: the runs the site has pages for."""
    from ucdbench.reporting.compare import SECTIONS

    sections = [{"title": title, "id": change.value,
                 "findings": [f for f in report["findings"] if f["change"] == change.value]}
                for change, title in SECTIONS]
    return site.render("compare.html", "compare.html", report=report, sections=sections, pages=keys)
