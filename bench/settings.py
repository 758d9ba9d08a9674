"""Typed settings: what a method, task or evaluation can be configured with, checked before any
run starts.

A plugin declares each setting once, with its default (one value, or one per preset), a
one-line help, and what values are allowed::

    settings = {
        "rank": Setting(PerPreset(smoke=4, small=4, paper=8), "rank of the adapter", minimum=1),
        "lr": Setting(5e-3, "learning rate of AdamW", minimum=0, exclusive_minimum=True),
        "mode": Setting("adapter", "what trains", choices=("adapter", "scratch")),
        "prior_depth": Setting("auto", "centre of the halting prior", choices=("auto",), type=(int, float),
                               minimum=1),
    }

``--set rank=-3`` or ``--set rank=abc`` is then a usage error naming the valid values (exit 2
before the first run), not a failed run, and ``ucdbench show-settings NAME`` prints the table.
The type is inferred from the default(s) when not given: a float setting takes ints too, an int
setting takes no floats, and no number setting takes a bool. ``choices`` lists values accepted
as they are; with a ``type`` as well, a value is accepted if it is one of the choices *or* of
that type within the range. ``check`` adds a rule the others cannot say (it returns the problem,
or None).

A plugin that overrides ``defaults(preset)`` instead of declaring ``settings`` (the 0.x style)
still works: its values are checked against the type of their default only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

PRESETS: tuple[str, ...] = ("smoke", "small", "paper")
"""smoke: seconds, for CI; small: CPU minutes, enough to show a paper's effect; paper: the
paper's own setting, meant for GPUs."""


@dataclass(frozen=True)
class PerPreset:
    """A default that differs between presets."""

    smoke: Any
    small: Any
    paper: Any

    def at(self, preset: str) -> Any:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        return getattr(self, preset)


def _type_of(value: Any) -> tuple[type, ...]:
    if isinstance(value, bool):
        return (bool,)
    if isinstance(value, float):
        return (int, float)
    for kind in (int, str, list, dict):
        if isinstance(value, kind):
            return (kind,)
    return ()


def _type_name(types: tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a JSON list",
             dict: "a JSON object"}
    if float in types:
        types = tuple(t for t in types if t is not int)
    return " or ".join(names.get(t, t.__name__) for t in types)


@dataclass(frozen=True)
class Setting:
    """One configurable value: its default, its help line and what it allows."""

    default: Any
    help: str
    type: type | tuple[type, ...] | None = None
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    check: Callable[[Any], str | None] | None = None

    def default_at(self, preset: str) -> Any:
        return self.default.at(preset) if isinstance(self.default, PerPreset) else self.default

    @property
    def types(self) -> tuple[type, ...]:
        """The accepted types: declared, or inferred from the default(s) outside ``choices``."""
        if self.type is not None:
            return self.type if isinstance(self.type, tuple) else (self.type,)
        values = [self.default.at(p) for p in PRESETS] if isinstance(self.default, PerPreset) else [self.default]
        found: tuple[type, ...] = ()
        for value in values:
            if self.choices is not None and value in self.choices:
                continue
            found += tuple(t for t in _type_of(value) if t not in found)
        return found

    def allowed(self) -> str:
        """What values are valid, in words (for errors and ``show-settings``)."""
        parts = []
        if self.choices is not None:
            parts.append("one of " + ", ".join(repr(c) for c in self.choices))
        types = self.types
        if types and (self.choices is None or self.type is not None):
            text = _type_name(types)
            if self.minimum is not None:
                text += f" {'>' if self.exclusive_minimum else '≥'} {self.minimum:g}"
            if self.maximum is not None:
                text += f"{' and' if self.minimum is not None else ''} ≤ {self.maximum:g}"
            parts.append(text)
        return " or ".join(parts) or "any value"

    def problem(self, value: Any) -> str | None:
        """None when ``value`` is allowed, else what is wrong with it (naming the valid values)."""
        if self.choices is not None and any(value == c and type(value) is type(c) for c in self.choices):
            return self._checked(value)
        refused = f"{value!r} is not allowed: expected {self.allowed()}"
        if self.choices is not None and self.type is None:
            return refused
        types = self.types
        if types and not (isinstance(value, types) and (bool in types or not isinstance(value, bool))):
            return refused
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                return refused
            if self.minimum is not None and (value < self.minimum or (self.exclusive_minimum and value == self.minimum)):
                return refused
            if self.maximum is not None and value > self.maximum:
                return refused
        return self._checked(value)

    def _checked(self, value: Any) -> str | None:
        return self.check(value) if self.check is not None else None


def check_settings(settings: Mapping[str, Setting], values: Mapping[str, Any], owner: str) -> None:
    """Raise a usage error naming every value in ``values`` its setting does not allow."""
    from ucdbench.interfaces import UcdbenchError

    problems = []
    for key, value in values.items():
        problem = settings[key].problem(value)
        if problem:
            problems.append(f"{key}={value!r}: {problem} ({settings[key].help})")
    if problems:
        raise UcdbenchError(f"{owner}: " + "; ".join(problems))
