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

A default may also follow the run's task where a paper's official recipe differs per base
model (A-ViT's halting gate: β = 30 for DeiT-Tiny, 75 for DeiT-Small): ``PerTask("model",
{"deit_small_patch16_224": 75.0}, otherwise=30.0)``, alone or as one preset's value of a
``PerPreset``. The runner resolves it against the run's task configuration before the run's key
is computed, so records and keys hold the value used; without a task (``show-settings``,
``defaults(preset)``) it is ``otherwise``.

A plugin that overrides ``defaults(preset)`` instead of declaring ``settings`` (the 0.x style)
still works: its values are checked against the type of their default only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ucdbench.core.errors import UcdbenchError

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


@dataclass(frozen=True)
class PerTask:
    """A default that follows one of the run's task settings: ``values[task.SETTING]`` where
    the task's value is listed, else ``otherwise``."""

    setting: str
    values: Mapping[Any, Any]
    otherwise: Any

    def at(self, task_config: Mapping[str, Any] | None) -> Any:
        """The default for a task with ``task_config`` (``otherwise`` without one)."""
        if task_config is None or self.setting not in task_config:
            return self.otherwise
        return self.values.get(task_config[self.setting], self.otherwise)

    def candidates(self) -> list[Any]:
        """Every value this default can take."""
        return [self.otherwise, *self.values.values()]


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

    def default_at(self, preset: str, task_config: Mapping[str, Any] | None = None) -> Any:
        """The default at ``preset`` for a task with ``task_config`` (a :class:`PerTask`
        default resolved against it; its ``otherwise`` when no task is given)."""
        value = self._at_preset(preset)
        return value.at(task_config) if isinstance(value, PerTask) else value

    def per_task(self, preset: str) -> PerTask | None:
        """The default at ``preset`` where it follows the task (resolved per run), else None."""
        value = self._at_preset(preset)
        return value if isinstance(value, PerTask) else None

    def _at_preset(self, preset: str) -> Any:
        return self.default.at(preset) if isinstance(self.default, PerPreset) else self.default

    def _candidates(self, preset: str) -> list[Any]:
        """Every value the default at ``preset`` can take, whatever the task."""
        value = self._at_preset(preset)
        return value.candidates() if isinstance(value, PerTask) else [value]

    @property
    def types(self) -> tuple[type, ...]:
        """The accepted types: declared, or inferred from the default(s) outside ``choices``."""
        if self.type is not None:
            return self.type if isinstance(self.type, tuple) else (self.type,)
        values = [value for p in PRESETS for value in self._candidates(p)]
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

    def declaration_problem(self) -> str | None:
        """None when this declaration keeps its own rules, else what is wrong with it and how
        to fix it: a rule no value could meet (a minimum on a string setting, a minimum above
        the maximum, no choices) or a default, at some preset, that its own type, range,
        choices or check refuses. The harness asks this when a plugin's class loads, so a
        setting that no ``--set`` value could satisfy is a broken plugin, not a riddle."""
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        if self.type is not None and not all(isinstance(t, type) for t in types):
            return f"type={self.type!r} is not a type or a tuple of types (for example type=int or type=(int, float))"
        if self.choices is not None and not (isinstance(self.choices, (tuple, list)) and self.choices):
            return (f"choices={self.choices!r} is not a non-empty tuple of the values allowed (for example "
                    "choices=('adapter', 'scratch'))")
        for bound in ("minimum", "maximum"):
            value = getattr(self, bound)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value)):
                return f"{bound}={value!r} is not a finite number"
        number = [t for t in self.types if t in (int, float)]
        if (self.minimum is not None or self.maximum is not None) and not number:
            bounds = ", ".join(f"{b}={getattr(self, b)!r}" for b in ("minimum", "maximum")
                               if getattr(self, b) is not None)
            takes = _type_name(self.types) if self.types else "only its choices" if self.choices else "any value"
            return (f"{bounds} bounds numbers, but the setting takes {takes} "
                    f"(its default is {self._default_text()}): give a number default, or declare type=int or "
                    f"type=float, or drop {bounds}")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            return f"minimum={self.minimum!r} is above maximum={self.maximum!r}: no value is allowed"
        if self.exclusive_minimum and self.minimum is None:
            return "exclusive_minimum=True without a minimum: give the minimum it excludes"
        for preset in PRESETS:
            for default in self._candidates(preset):
                try:
                    problem = self.problem(default)
                except Exception as exc:  # a plugin's check that raises is the declaration's problem too
                    problem = f"its check raised {type(exc).__name__}: {exc}"
                if problem:
                    return f"the default at preset {preset!r}, {default!r}, breaks the setting's own rules: {problem}"
        return None

    def _default_text(self) -> str:
        if isinstance(self.default, PerPreset):
            return ", ".join(f"{p}={self.default.at(p)!r}" for p in PRESETS)
        return repr(self.default)


def task_defaults(settings: Mapping[str, Setting], preset: str, task_config: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults at ``preset`` that follow the task (:class:`PerTask`), resolved for a task
    with ``task_config``; the other settings' defaults do not depend on it and are left out."""
    return {name: setting.default_at(preset, task_config) for name, setting in settings.items()
            if setting.per_task(preset) is not None}


def check_settings(settings: Mapping[str, Setting], values: Mapping[str, Any], owner: str) -> None:
    """Raise a usage error naming every value in ``values`` its setting does not allow."""
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
