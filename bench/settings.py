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


REFERENCE_SEPARATOR = ":"


@dataclass(frozen=True)
class ParsedReference:
    """One run reference as written: a run key, or a method with its own settings."""

    text: str
    method: str | None = None
    """The method to run (None when the reference is a run key)."""
    overrides: tuple[tuple[str, Any], ...] = ()
    """``--set``-style overrides of that run (``task.KEY`` for the task), on top of the
    referring run's own ``task.*`` overrides."""
    key: str | None = None


def parse_reference(text: str) -> ParsedReference:
    """``"byol"``, ``"byol:epochs=20:task.width=64"`` (settings separated by ``:``, so that a
    ``,`` still sweeps) or a run key (16 hex digits) → what it names."""
    from ucdbench.interfaces import UcdbenchError

    if not isinstance(text, str) or not text.strip():
        raise UcdbenchError(f"{text!r} is not a run reference: give a method name ('byol'), a method with "
                            "settings ('byol:epochs=20:task.width=64') or a run key")
    head, *assignments = text.strip().split(REFERENCE_SEPARATOR)
    if not assignments and len(head) == 16 and all(c in "0123456789abcdef" for c in head):
        return ParsedReference(text, key=head)
    overrides = []
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UcdbenchError(f"run reference {text!r}: {item!r} is not KEY=VALUE (for example "
                                "'byol:epochs=20:task.width=64')")
        overrides.append((name.strip(), _reference_value(value.strip())))
    return ParsedReference(text, method=head.strip(), overrides=tuple(overrides))


def _reference_value(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _reference_problem(value: Any) -> str | None:
    from ucdbench.interfaces import UcdbenchError

    texts = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        return "an empty list names no run"
    for text in texts:
        try:
            parse_reference(text)
        except UcdbenchError as exc:
            return str(exc)
    return None


@dataclass(frozen=True)
class RunReference(Setting):
    """A setting whose value names other runs whose artifacts this run consumes (a teacher, a
    frozen encoder of another modality): a method with its own settings (``"byol"``,
    ``"byol:epochs=20:task.width=64"``), or a recorded run's key; with ``many=True`` also a
    JSON list of them.

    The runner resolves each reference before anything runs (an unknown method, a setting it
    does not have, a key with no successful record: exit 2), runs it first or takes it from
    the results when recorded, and hands the rebuilt runs to ``fit`` as
    ``ctx.references[NAME]`` (:class:`ucdbench.api.ReferencedRun`). A referenced
    method runs on the same task, preset, seed and hardware with the referring run's ``task.*``
    overrides, then its own. The referring run's key includes the referenced runs' keys, and
    its record names them (``references``).
    """

    many: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", (str, list) if self.many else str)
        object.__setattr__(self, "check", _reference_problem)

    def references(self, value: Any) -> list[ParsedReference]:
        """The runs ``value`` names, in order."""
        return [parse_reference(text) for text in (value if isinstance(value, list) else [value])]
