"""What a run record says, read the same way by every report (tables, views, claims, the site):
the settings a run ran with, defaults filled in, and the machine it ran on.

Runs are compared by what they ran with, never by what was typed: ``label_noise=0.0`` and no
``label_noise`` at all are one setting when 0.0 is the default. A record carries its method's
and task's resolved configurations, each evaluation's, and the overrides given on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def resolved_settings(record: Mapping[str, Any]) -> dict[str, Any]:
    """A run's settings as it ran: its method's (``KEY``), its task's (``task.KEY``) and each
    evaluation's (``eval.NAME.KEY``), defaults filled in, and what it was given on top."""
    settings = {**record["method"].get("config", {}),
                **{f"task.{k}": v for k, v in record["task"].get("config", {}).items()}}
    for evaluation, config in record.get("evaluation_configs", {}).items():
        settings.update({f"eval.{evaluation}.{key}": value for key, value in config.items()})
    return {**settings, **record.get("overrides", {})}


def method_settings(record: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`resolved_settings` but the task's: what tells a run's row from its method's others."""
    return {k: v for k, v in resolved_settings(record).items() if not k.startswith("task.")}


def task_settings(record: Mapping[str, Any]) -> dict[str, Any]:
    """The task's part of :func:`resolved_settings`, without the ``task.`` prefix: what tells a
    section of a task's page from its others."""
    return {k.removeprefix("task."): v for k, v in resolved_settings(record).items() if k.startswith("task.")}


def has_settings(record: Mapping[str, Any], settings: Mapping[str, Any]) -> bool:
    """Whether the run of ``record`` ran with every one of ``settings`` (resolved: a default
    matches a run that never set it)."""
    resolved = resolved_settings(record)
    return all(key in resolved and resolved[key] == value for key, value in settings.items())


def hardware_label(hardware: Mapping[str, Any]) -> str:
    """``kind: name``, with the thread count where the hardware records one: a row's runs share
    it, because timings (and, through float reductions, the other figures) depend on it."""
    label = f"{hardware.get('kind', '?')}: {hardware.get('name', '?')}"
    threads = hardware.get("threads")
    return f"{label}, {threads} thread{'' if threads == 1 else 's'}" if threads else label
