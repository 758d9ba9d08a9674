"""Plugin discovery: entry points → pluggy → a registry of methods, tasks, hardware, evaluations.

Built-in plugins are found exactly as third-party ones are: through the ``ucdbench``
entry-point group. A plugin that fails to import, or whose hook raises, is recorded as broken
(``ucdbench list`` shows the error) and the others carry on.

Environment variables, as pytest has them:

- ``UCDBENCH_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry points (tests add plugins in code).
- ``UCDBENCH_PLUGINS=a,b``: allow-list of entry-point names to load.
- ``UCDBENCH_DISABLE_PLUGINS=a,b``: deny-list of entry-point names.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from ucdbench import hookspecs
from ucdbench.interfaces import UcdbenchError

KINDS: dict[str, str] = {
    "method": "ucdbench_register_methods",
    "task": "ucdbench_register_tasks",
    "hardware": "ucdbench_register_hardware",
    "evaluation": "ucdbench_register_evaluations",
}


@dataclass
class Entry:
    """One registered thing: its name, where it lives, and the plugin that registered it."""

    kind: str
    name: str
    target: Any
    summary: str
    plugin: str
    distribution: str
    version: str

    def load(self) -> Any:
        """The registered object, importing ``"module:attribute"`` targets on first use."""
        if isinstance(self.target, str):
            module_name, _, attribute = self.target.partition(":")
            try:
                obj = importlib.import_module(module_name)
                for part in attribute.split(".") if attribute else ():
                    obj = getattr(obj, part)
            except Exception as exc:
                raise UcdbenchError(
                    f"{self.kind} {self.name!r} from plugin {self.plugin!r} could not be "
                    f"loaded from {self.target!r}: {type(exc).__name__}: {exc}"
                ) from exc
            self.target = obj
        return self.target


@dataclass
class BrokenPlugin:
    name: str
    distribution: str
    version: str
    error: str


@dataclass
class Registry:
    """Everything the loaded plugins registered, by kind and name."""

    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})
    broken: list[BrokenPlugin] = field(default_factory=list)

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def get(self, kind: str, name: str) -> Entry:
        """The entry called ``name``; an unknown name raises with close matches."""
        try:
            return self.entries[kind][name]
        except KeyError:
            known = self.names(kind)
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            broken = ""
            if self.broken:
                broken = (
                    " (broken plugins, which may have provided it: "
                    + ", ".join(b.name for b in self.broken)
                    + "; see `ucdbench list`)"
                )
            raise UcdbenchError(
                f"unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(known) or 'none'}{broken}."
            ) from None

    def load(self, kind: str, name: str) -> Any:
        return self.get(kind, name).load()

    def _collect(self, pm: pluggy.PluginManager, origin: dict[str, tuple[str, str]]) -> None:
        failed: set[str] = set()
        for kind, hook_name in KINDS.items():
            for impl in getattr(pm.hook, hook_name).get_hookimpls():
                plugin = impl.plugin_name
                if plugin in failed:
                    continue
                distribution, version = origin.get(plugin, ("", ""))
                staged: list[Entry] = []

                def register(name: str, target: Any, *, summary: str = "", _staged=staged,
                             _kind=kind, _plugin=plugin, _dist=distribution, _ver=version) -> None:
                    _staged.append(Entry(_kind, name, target, summary, _plugin, _dist, _ver))

                try:
                    impl.function(register=register)
                    for entry in staged:
                        owner = self.entries[kind].get(entry.name)
                        if owner is not None:
                            raise UcdbenchError(
                                f"{kind} {entry.name!r} is already registered by plugin {owner.plugin!r}"
                            )
                except Exception as exc:
                    failed.add(plugin)
                    self._drop(plugin)
                    self.broken.append(BrokenPlugin(plugin, distribution, version, _describe(exc)))
                    continue
                for entry in staged:
                    self.entries[kind][entry.name] = entry

    def _drop(self, plugin: str) -> None:
        for by_name in self.entries.values():
            for name in [n for n, e in by_name.items() if e.plugin == plugin]:
                del by_name[name]


def _plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _csv_env(name: str) -> set[str] | None:
    value = os.environ.get(name, "").strip()
    return {v.strip() for v in value.split(",") if v.strip()} if value else None


def load_registry(extra: Iterable[tuple[str, object]] = ()) -> Registry:
    """Load every plugin named in the ``ucdbench`` entry-point group (subject to the
    environment variables above), plus ``extra`` ``(name, plugin)`` pairs."""
    registry = Registry()
    pm = _plugin_manager()
    origin: dict[str, tuple[str, str]] = {}
    if os.environ.get("UCDBENCH_DISABLE_PLUGIN_AUTOLOAD", "") not in ("", "0"):
        candidates = []
    else:
        candidates = list(entry_points(group=hookspecs.PROJECT))
    allow, deny = _csv_env("UCDBENCH_PLUGINS"), _csv_env("UCDBENCH_DISABLE_PLUGINS") or set()
    for ep in sorted(candidates, key=lambda e: e.name):
        if (allow is not None and ep.name not in allow) or ep.name in deny or ep.name in origin:
            continue
        dist = getattr(ep, "dist", None)
        distribution, version = (dist.name, dist.version) if dist is not None else ("", "")
        origin[ep.name] = (distribution, version)
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:
            registry.broken.append(BrokenPlugin(ep.name, distribution, version, _describe(exc)))
    for name, plugin in extra:
        origin[name] = ("", "")
        try:
            pm.register(plugin, name=name)
        except Exception as exc:
            registry.broken.append(BrokenPlugin(name, "", "", _describe(exc)))
    registry._collect(pm, origin)
    return registry
