"""Claims: two rows of a leaderboard compared seed by seed on every figure a study names, judged by
the paired t-test (:func:`ucdbench.core.stats.paired_comparison`) beside which they live.

A claim is stated in an experiment file before its runs (``[[claims]]``, read by
:mod:`ucdbench.cli.experiments`); the leaderboard's index and the site judge it on the records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ucdbench.core.formatting import format_p, signed_difference
from ucdbench.core.stats import PairedComparison, paired_comparison
from ucdbench.reporting.records import hardware_label, has_settings, resolved_settings


@dataclass(frozen=True)
class RowSelector:
    """The runs of one leaderboard row: a method, and settings its runs had (``task.KEY`` for the
    task's). Settings are matched against the run's resolved configuration, so a default
    (``activation = "sine"``) matches runs that never set it; give enough of them to tell the
    row from the others: a selector that matches several rows is reported as ambiguous, never
    mixed. ``figure`` (``evaluation/figure``) compares this row's other figure than the claim's:
    one row's figure before and after a defence, say."""

    method: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    figure: str | None = None

    def matches(self, record: Mapping[str, Any]) -> bool:
        return record["method"]["name"] == self.method and has_settings(record, self.settings)

    def __str__(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(self.settings.items()))
        return self.method + (f" ({settings})" if settings else "") + (f" [{self.figure}]" if self.figure else "")


@dataclass(frozen=True)
class Claim:
    """``better`` beats ``than`` on each of ``figures`` (``evaluation/figure``) of ``task``, seed
    by seed. A claim names every headline figure of its comparison before the runs, and each is
    judged and shown: a claim that holds on one figure and reverses on another says both."""

    name: str
    task: str
    figures: tuple[str, ...]
    better: RowSelector
    than: RowSelector
    preset: str
    higher_is_better: bool | None = None
    """The direction the claim states for its figures (an attack's success rate, which declares
    none: higher is the attacker's win); None: each figure's declared direction."""


@dataclass(frozen=True)
class ClaimVerdict:
    """One figure of a claim judged on the records of one hardware: the seed-by-seed comparison
    of its two rows."""

    claim: Claim
    figure: str
    """The claim's figure judged here (one of ``claim.figures``)."""
    hardware: str
    comparison: PairedComparison | None
    """better − than, or None when a selector is ambiguous."""
    note: str = ""

    @property
    def verdict(self) -> str:
        return self.comparison.verdict() if self.comparison is not None else self.note

    def difference(self) -> str:
        """The mean difference (better − than), signed, with which way is better: ``+2.9 better``."""
        c = self.comparison
        return "–" if c is None or c.mean_difference is None else signed_difference(c.mean_difference, c.improvement)

    def p(self) -> str:
        """The p-value with the digits that show which side of the threshold it is on."""
        return "–" if self.comparison is None or self.comparison.p_value is None else format_p(self.comparison.p_value)


def _figure_value(record: Mapping[str, Any], figure: str) -> float | None:
    evaluation, name = figure.split("/")
    value = record.get("evaluations", {}).get(evaluation, {}).get(name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _higher_is_better(records: list[Mapping[str, Any]], figure: str) -> bool | None:
    evaluation, name = figure.split("/")
    for record in records:
        for declared in record.get("figures", {}).get(evaluation, []):
            if declared["name"] == name:
                return declared.get("higher_is_better")
    return None


def _ambiguity(selector: RowSelector, matched: list[Mapping[str, Any]]) -> str | None:
    """Why ``matched`` (the runs ``selector`` matches) are more than one row, naming the resolved
    settings that tell the rows apart; None when they are one row (however their settings were typed)."""
    rows = {json.dumps(resolved_settings(r), sort_keys=True, default=str): resolved_settings(r) for r in matched}
    if len(rows) < 2:
        return None
    keys = sorted(k for k in set().union(*rows.values())
                  if len({json.dumps(c.get(k), sort_keys=True, default=str) for c in rows.values()}) > 1)
    apart = "; ".join(", ".join(f"{k}={c.get(k)}" for k in keys) for c in rows.values())
    return f"{selector} matches {len(rows)} rows ({apart}): add the settings that tell them apart"


def judge_claims(claims: list[Claim], records: list[Mapping[str, Any]]) -> list[ClaimVerdict]:
    """Each figure of each claim on each hardware (and thread count) where both its rows have
    successful runs that report it, paired by seed (:func:`ucdbench.core.stats.paired_comparison`):
    holds, does not hold, not significant, or untestable (fewer than two shared seeds)."""
    verdicts = []
    for claim in claims:
        runs = [r for r in records if r.get("status") == "ok" and r["task"]["name"] == claim.task
                and r.get("preset") == claim.preset]
        for machine in sorted({hardware_label(r["hardware"]) for r in runs}):
            here = [r for r in runs if hardware_label(r["hardware"]) == machine]
            for claimed in claim.figures:
                rows, ambiguous = [], []
                for selector in (claim.better, claim.than):
                    figure = selector.figure or claimed
                    matched = [r for r in here if selector.matches(r) and _figure_value(r, figure) is not None]
                    problem = _ambiguity(selector, matched)
                    if problem:
                        ambiguous.append(problem)
                    rows.append({r["seed"]: _figure_value(r, figure) for r in matched})
                if ambiguous:
                    verdicts.append(ClaimVerdict(claim, claimed, machine, None, "ambiguous: " + " ".join(ambiguous)))
                elif rows[0] and rows[1]:
                    direction = claim.higher_is_better
                    comparison = paired_comparison(rows[0], rows[1], _higher_is_better(here, claimed)
                                                   if direction is None else direction)
                    verdicts.append(ClaimVerdict(claim, claimed, machine, comparison))
    return verdicts


def claims_markdown(claims: list[Claim], verdicts: list[ClaimVerdict]) -> str:
    """A table of the claims, one line per claim × figure × hardware: each figure's verdict,
    or that no runs of both rows report it."""
    lines = ["| claim | task | figure | better | than | hardware | difference | n | p | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for claim in claims:
        for figure in claim.figures:
            head = f"| {claim.name} | {claim.task} | {figure} | {claim.better} | {claim.than} |"
            judged = [v for v in verdicts if v.claim is claim and v.figure == figure]
            if not judged:
                lines.append(f"{head} – | – | – | – | no runs of both rows report it |")
            for v in judged:
                if v.comparison is None:
                    lines.append(f"{head} {v.hardware} | – | – | – | {v.verdict} |")
                else:
                    lines.append(f"{head} {v.hardware} | {v.difference()} | {v.comparison.n} | {v.p()} | "
                                 f"**{v.verdict}** |")
    return "\n".join(lines)
