"""Accepted changes: regressions a reviewer has agreed to, named in a file in the repository.

An intentional slowdown (a more faithful but slower implementation, a new dependency) would
fail every night's gate until the baseline moved, and pushing results by hand hides it. Instead
a TOML file, reviewed like code, names the run, the figure and why::

    [[accept]]
    method = "lora"                  # required
    task = "digits"                  # required
    preset = "small"                 # optional: any preset
    set = { rank = 4 }               # optional: these --set overrides (others may differ)
    figure = "latency/p50_ms"        # evaluation/figure, an evaluation's every figure ("latency"), or "status"
    reason = "PEFT 0.14 keeps adapters unmerged at inference: 12% slower, reviewed in #123"
    expires = 2027-01-31             # optional: after this day it no longer applies

``ucdbench compare --accept FILE`` (and the nightly job, with the repository's
``accepted-changes.toml``) turns each matching regression into an *accepted* change: it does
not fail the gate, and the report lists it with its reason. Entries that matched nothing, and
expired ones, are listed too, so that the file does not silently outlive its changes.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ucdbench.contracts.interfaces import UcdbenchError

_KEYS = {"method", "task", "preset", "set", "figure", "reason", "expires"}


@dataclass(frozen=True)
class Acceptance:
    """One accepted change, as the file states it (``line``: where, for messages)."""

    method: str
    task: str
    figure: str
    reason: str
    preset: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    expires: dt.date | None = None
    line: str = ""

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires

    def matches(self, setting: Any, figures: Sequence[str]) -> bool:
        """Whether this entry names a finding of ``setting`` (a :class:`ucdbench.reporting.compare.RunSetting`)
        about ``figures``."""
        if (setting.method, setting.task) != (self.method, self.task):
            return False
        if self.preset is not None and setting.preset != self.preset:
            return False
        overrides = json.loads(setting.overrides)
        if any(overrides.get(key) != value for key, value in self.overrides.items()):
            return False
        return any(f == self.figure or f.partition("/")[0] == self.figure for f in figures)

    def describe(self) -> str:
        where = self.method + (f" ({', '.join(f'{k}={v}' for k, v in self.overrides.items())})" if self.overrides else "")
        return f"{where} · {self.task}" + (f" · {self.preset}" if self.preset else "") + f" · {self.figure}"


def load_acceptances(path: Path | str) -> list[Acceptance]:
    """The entries of an accepted-changes file; a :class:`UcdbenchError` naming the entry and the
    key for anything malformed (a missing reason above all: an acceptance must say why)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UcdbenchError(f"--accept {path}: no such file; give the accepted-changes file (TOML, [[accept]] "
                            "entries with method, task, figure and reason)") from None
    except tomllib.TOMLDecodeError as exc:
        raise UcdbenchError(f"{path}: not valid TOML: {exc}") from exc
    unknown = set(data) - {"accept"}
    if unknown:
        raise UcdbenchError(f"{path}: unknown table(s) {', '.join(sorted(unknown))}; the file holds [[accept]] entries")
    entries = data.get("accept", [])
    if not isinstance(entries, list):
        raise UcdbenchError(f"{path}: 'accept' must be an array of tables ([[accept]] entries)")
    found = []
    for number, entry in enumerate(entries, 1):
        where = f"{path}: [[accept]] #{number}"
        extra = set(entry) - _KEYS
        if extra:
            raise UcdbenchError(f"{where}: unknown key(s) {', '.join(sorted(extra))}; keys: {', '.join(sorted(_KEYS))}")
        for key in ("method", "task", "figure", "reason"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise UcdbenchError(f"{where}: {key!r} is required (a non-empty string)"
                                    + ("; say why the change is accepted, for the reviewers" if key == "reason" else ""))
        if not isinstance(entry.get("set", {}), dict):
            raise UcdbenchError(f"{where}: 'set' must be a table of --set overrides, like set = {{ rank = 4 }}")
        expires = entry.get("expires")
        if expires is not None and not isinstance(expires, dt.date):
            raise UcdbenchError(f"{where}: 'expires' must be a TOML date, like expires = 2027-01-31")
        found.append(Acceptance(entry["method"], entry["task"], entry["figure"], entry["reason"].strip(),
                                entry.get("preset"), dict(entry.get("set", {})), expires, where))
    return found


@dataclass(frozen=True)
class AcceptanceReport:
    """What the acceptances did to a comparison: entries that matched nothing, and expired ones."""

    unused: list[Acceptance]
    expired: list[Acceptance]


def apply_acceptances(comparison: Any, acceptances: Sequence[Acceptance], today: dt.date | None = None
                      ) -> AcceptanceReport:
    """Turn each regression of ``comparison`` (a :class:`ucdbench.reporting.compare.Comparison`) that an
    unexpired entry names into an accepted change, in place."""
    from ucdbench.reporting.compare import Change

    today = today or dt.date.today()
    live = [a for a in acceptances if not a.expired(today)]
    used: set[int] = set()
    for index, finding in enumerate(comparison.findings):
        if finding.change is not Change.REGRESSION or finding.setting is None:
            continue
        for number, acceptance in enumerate(live):
            if acceptance.matches(finding.setting, finding.figures):
                used.add(number)
                comparison.findings[index] = replace(finding, change=Change.ACCEPTED,
                                                     test=f"{finding.test}; accepted: {acceptance.reason}")
                break
    return AcceptanceReport([a for n, a in enumerate(live) if n not in used],
                            [a for a in acceptances if a.expired(today)])
