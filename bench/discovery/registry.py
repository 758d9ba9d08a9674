"""Plugin discovery: entry points → pluggy → a registry of methods, tasks, hardware, evaluations, sinks.

Built-in plugins are found exactly as third-party ones are: through the ``ucdbench``
entry-point group. A built-in is a plugin whose distribution is ``ucdbench`` itself.

Registration fails loudly, one plugin at a time. A plugin is **broken** (``ucdbench list``
shows it with what to fix; nothing it registered is kept; the other plugins carry on) when:

- its module fails to import, or a hook raises;
- it implements a hook with no hookspec (a misspelled hook: pluggy's ``check_pending``), or
  defines a ``ucdbench_*`` function without ``@hookimpl`` (pluggy would silently ignore it);
- a hook's signature is not ``(register)``;
- it registers a name that is not letters, digits, ``-`` and ``_``, registers one name twice,
  or gives a string target that is not ``"module:attribute"``;
- it registers an object (not a string) that the harness cannot use (:func:`target_problem`):
  not a subclass of the kind's interface, a class whose ``name`` differs from the name it is
  registered under, an abstract class (a method without ``fit()``), a class that cannot be
  constructed as the harness constructs it (:func:`construct`), or one with a setting whose
  declaration breaks its own rules (:meth:`ucdbench.contracts.settings.Setting.declaration_problem`).

**Name collisions** are not a plugin's fault, so they cost only the name: plugins are loaded
built-ins first, then third-party plugins sorted by distribution and entry-point name (then
plugins passed in code), and the first to register a name keeps it. A later plugin loses that
one name, keeps everything else it registered, and ``ucdbench list`` says who has the name.

**Lazy targets are checked when they load, not at list time.** A ``"module:attribute"`` target
exists so that ``ucdbench list`` never imports a plugin's heavy module (torch, timm, …); to
check it we would have to import it, which would make ``list`` as slow as a run and let one
plugin's missing dependency break the listing. So ``list`` and ``ucdbench plugins`` cannot name
a plugin whose string target is unusable: it shows as working there. The same check,
:func:`target_problem`, runs on objects registered directly at registration and on string
targets in :meth:`Entry.load`, which raises a :class:`UcdbenchError` naming the plugin, the
problem and the fix. Whatever loads targets turns that into an exit 2 with the reason, never a
traceback: a run loads every target it needs before the first run starts; ``ucdbench list
--matrix`` loads every method and task, marks each that does not load and exits 2;
``ucdbench check-plugin NAME`` loads the targets registered as NAME before its checks.

Environment variables, as pytest has them:

- ``UCDBENCH_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry points (tests add plugins in code).
- ``UCDBENCH_PLUGINS=a,b``: allow-list of entry-point names to load.
- ``UCDBENCH_DISABLE_PLUGINS=a,b``: deny-list of entry-point names.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from ucdbench.discovery import hookspecs
from ucdbench.contracts.interfaces import Configurable, Evaluation, Hardware, Method, Task, UcdbenchError
from ucdbench.contracts.settings import PRESETS, Setting
from ucdbench.contracts.sinks import Sink
from ucdbench.core.suggestions import did_you_mean

KINDS: dict[str, str] = {
    "method": "ucdbench_register_methods",
    "task": "ucdbench_register_tasks",
    "hardware": "ucdbench_register_hardware",
    "evaluation": "ucdbench_register_evaluations",
    "sink": "ucdbench_register_sinks",
}
INTERFACES: dict[str, type] = {"method": Method, "task": Task, "hardware": Hardware, "evaluation": Evaluation,
                               "sink": Sink}
BUILTIN_DISTRIBUTION = "ucdbench"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
TARGET_PATTERN = re.compile(rf"{_DOTTED}:{_DOTTED}")


def _package(distribution: str, version: str) -> str:
    return f"{distribution} {version}".strip() or "no distribution"


def _is_builtin(distribution: str) -> bool:
    return re.sub(r"[-_.]+", "-", distribution).lower() == BUILTIN_DISTRIBUTION


def _qualname(obj: Any) -> str:
    if isinstance(obj, type):
        return f"class {obj.__module__}.{obj.__qualname__}"
    return f"{type(obj).__name__} object {obj!r:.60}"


def target_problem(kind: str, name: str, obj: Any) -> str | None:
    """Why ``obj`` cannot be the ``kind`` called ``name`` (None when it can), with the fix: it
    must be a subclass of the kind's interface named ``name``, not abstract, constructible as
    the harness constructs it (:func:`construct`), and every setting it declares must keep
    its own rules (:meth:`ucdbench.contracts.settings.Setting.declaration_problem`). Construction is cheap
    by contract (a task reads no data until ``prepare``), so checking it costs nothing."""
    interface = INTERFACES[kind]
    if not (isinstance(obj, type) and issubclass(obj, interface)):
        return (f"{_qualname(obj)} is not a subclass of ucdbench.api.{interface.__name__}; register a "
                f"class derived from it (`from ucdbench.api import {interface.__name__}`)")
    declared = getattr(obj, "name", None)
    if declared is None:
        return f"{_qualname(obj)} has no `name`; add `name = {name!r}` to the class"
    if declared != name:
        return (f"{_qualname(obj)} has name {declared!r} but is registered as {name!r}; make them equal "
                f"(`name = {name!r}` on the class, or register it as {declared!r})")
    problems = _settings_problems(obj)
    if inspect.isabstract(obj):
        missing = ", ".join(f"{m}()" for m in sorted(obj.__abstractmethods__))
        problems.insert(0, f"{_qualname(obj)} is abstract: it does not define {missing}, which every "
                           f"ucdbench.api.{interface.__name__} must; define {'them' if ',' in missing else 'it'} "
                           "in the class")
    elif not problems:
        try:
            construct(kind, obj)
        except Exception as exc:  # the plugin's own code: whatever it raises is its problem
            call = TASK_CONSTRUCTION if kind == "task" else "cls()"
            problems.append(f"{_qualname(obj)} cannot be constructed as the harness constructs it ({call}): "
                            f"{type(exc).__name__}: {exc}; make that call work and keep it cheap (read data in "
                            "prepare() or fit(), not in __init__)")
    return "; ".join(problems) or None


def _settings_problems(cls: type) -> list[str]:
    """What is wrong with the settings ``cls`` declares, at any preset (each problem once)."""
    if not issubclass(cls, Configurable):
        return []
    problems: dict[str, str] = {}
    for preset in PRESETS:
        try:
            declared = cls.declared_settings(preset)
        except Exception as exc:
            problems.setdefault("", f"declared_settings({preset!r}) raised {type(exc).__name__}: {exc}")
            continue
        for key, setting in declared.items():
            if not isinstance(setting, Setting):
                problems.setdefault(key, f"its setting {key!r} is {setting!r}, not a ucdbench.api.Setting; declare "
                                         f"it as `{key!r}: Setting(default, 'help', ...)`")
            elif key not in problems and (problem := setting.declaration_problem()):
                problems[key] = f"its setting {key!r} is declared wrongly: {problem}"
        if problems:
            continue
        try:
            cls.defaults(preset)
        except Exception as exc:
            problems.setdefault("", f"defaults({preset!r}) raised {type(exc).__name__}: {exc}")
    return list(problems.values())


def construct(kind: str, cls: type) -> Any:
    """An instance of ``cls`` made as the harness makes one before anything runs: ``cls()``,
    or for a task :data:`TASK_CONSTRUCTION` (``list --matrix`` builds every task so)."""
    return cls("smoke", 0, cls.defaults("smoke")) if kind == "task" else cls()


TASK_CONSTRUCTION = 'cls("smoke", 0, cls.defaults("smoke"))'


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

    @property
    def package(self) -> str:
        return _package(self.distribution, self.version)

    @property
    def builtin(self) -> bool:
        return _is_builtin(self.distribution)

    @property
    def module(self) -> str:
        """The module that defines the registered class (read from a lazy target without importing it)."""
        return self.target.partition(":")[0] if isinstance(self.target, str) else self.target.__module__

    def load(self) -> Any:
        """The registered class, importing a ``"module:attribute"`` target on first use and
        checking it as a directly registered class is checked at registration."""
        if not isinstance(self.target, str):
            return self.target
        module_name, _, attribute = self.target.partition(":")
        origin = f"{self.kind} {self.name!r} of plugin {self.plugin!r} ({self.package})"
        try:
            obj = importlib.import_module(module_name)
            for part in attribute.split("."):
                obj = getattr(obj, part)
        except Exception as exc:
            raise UcdbenchError(
                f"{origin} could not be loaded from {self.target!r}: {type(exc).__name__}: {exc}. Check that "
                f"`python -c 'import {module_name}'` works (dependencies installed) and that it defines "
                f"{attribute!r}, or disable the plugin with UCDBENCH_DISABLE_PLUGINS={self.plugin}"
            ) from exc
        problem = target_problem(self.kind, self.name, obj)
        if problem:
            raise UcdbenchError(f"{origin}, loaded from {self.target!r}, cannot be used: {problem}. Until "
                                f"{self.package} is fixed, disable the plugin: UCDBENCH_DISABLE_PLUGINS={self.plugin}")
        self.target = obj
        return obj


@dataclass
class Collision:
    """A name two plugins registered: ``winner`` keeps it, ``loser`` loses that name only."""

    winner: Entry
    loser: Entry

    @property
    def message(self) -> str:
        why = ("built-in plugins win" if self.winner.builtin else
               "the plugin loaded first wins (built-ins, then by distribution and entry-point name)")
        return (f"{self.loser.kind} {self.loser.name!r} of plugin {self.loser.plugin!r} ({self.loser.package}) is not "
                f"registered: plugin {self.winner.plugin!r} ({self.winner.package}) has that name and {why}. The "
                f"rest of {self.loser.plugin!r} is kept. Its author can register it under another name; to use it "
                f"instead, disable the other plugin: UCDBENCH_DISABLE_PLUGINS={self.winner.plugin}")


@dataclass
class PluginInfo:
    """One plugin as loaded: where it comes from, the hooks it implements and, if it is
    broken, why (then nothing it registered is kept)."""

    name: str
    distribution: str
    version: str
    module: str
    hooks: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def package(self) -> str:
        return _package(self.distribution, self.version)

    @property
    def broken_message(self) -> str:
        """Why this broken plugin is skipped, and what a user can do until it is fixed."""
        return (f"plugin {self.name!r} ({self.package}) is broken, so nothing it registered is kept: {self.error}. "
                f"Until it is fixed, disable it: UCDBENCH_DISABLE_PLUGINS={self.name}")


@dataclass
class Registry:
    """Everything the loaded plugins registered, by kind and name, and every plugin seen."""

    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})
    plugins: list[PluginInfo] = field(default_factory=list)
    collisions: list[Collision] = field(default_factory=list)

    @property
    def broken(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.error]

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def registered_by(self, plugin: str) -> dict[str, list[str]]:
        """Kind → the names ``plugin`` registered and kept, in registration order."""
        kept = {kind: [e.name for e in by_name.values() if e.plugin == plugin] for kind, by_name in self.entries.items()}
        return {kind: names for kind, names in kept.items() if names}

    def lost_by(self, plugin: str) -> list[Collision]:
        return [c for c in self.collisions if c.loser.plugin == plugin]

    def get(self, kind: str, name: str) -> Entry:
        """The entry called ``name``; an unknown name raises with close matches."""
        try:
            return self.entries[kind][name]
        except KeyError:
            known = self.names(kind)
            hint = did_you_mean(name, known)
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

    def load_named(self, name: str) -> dict[str, Any]:
        """Kind → the loaded, checked target of every kind registered as ``name``. Raises a
        :class:`UcdbenchError` when one does not load, or when nothing is registered as
        ``name`` (with close matches, and each broken plugin with its reason: it may be the
        one meant)."""
        kinds = [kind for kind in KINDS if name in self.entries[kind]]
        if not kinds:
            known = sorted({n for by_name in self.entries.values() for n in by_name})
            broken = "".join(f" Broken: {plugin.broken_message}" for plugin in self.broken)
            raise UcdbenchError(f"nothing is registered as {name!r}.{did_you_mean(name, known)} `ucdbench list` "
                                f"shows what is.{broken}")
        return {kind: self.load(kind, name) for kind in kinds}

    def warnings(self) -> list[str]:
        """One line for each broken plugin and each name lost to a collision, with its fix."""
        lines = [plugin.broken_message for plugin in self.broken] + [c.message for c in self.collisions]
        return [" ".join(line.splitlines()) for line in lines]

    def _collect(self, pm: pluggy.PluginManager, loaded: list[tuple[PluginInfo, object]]) -> None:
        """Call each working plugin's hooks, in load order, and keep what it registered."""
        for info, plugin in loaded:
            staged: list[Entry] = []
            problems: list[str] = []
            for kind, hook_name in KINDS.items():
                for impl in getattr(pm.hook, hook_name).get_hookimpls():
                    if impl.plugin is not plugin:
                        continue
                    try:
                        impl.function(register=_register_into(staged, problems, kind, info))
                    except Exception as exc:
                        problems.append(f"{hook_name} raised {type(exc).__name__}: {exc}")
            seen: set[tuple[str, str]] = set()
            for entry in staged:
                if (entry.kind, entry.name) in seen:
                    problems.append(f"registers {entry.kind} {entry.name!r} twice; register each name once")
                seen.add((entry.kind, entry.name))
            if problems:
                info.error = "; ".join(dict.fromkeys(problems))
                continue
            for entry in staged:
                owner = self.entries[entry.kind].get(entry.name)
                if owner is None:
                    self.entries[entry.kind][entry.name] = entry
                else:
                    self.collisions.append(Collision(winner=owner, loser=entry))


def _register_into(staged: list[Entry], problems: list[str], kind: str, info: PluginInfo) -> Callable[..., None]:
    """The ``register`` callback one hook receives: it checks and stages, and never raises,
    so that one call reports every problem of a plugin at once."""

    def register(name: str, target: str | object, *, summary: str = "") -> None:
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            problems.append(f"registers {kind} name {name!r}: names are used on the command line, in --set keys and "
                            "in file names; use letters, digits, '-' and '_' (for example 'my-method')")
            return
        if isinstance(target, str):
            if not TARGET_PATTERN.fullmatch(target):
                problems.append(f"registers {kind} {name!r} with target {target!r}, which is not 'module:attribute' "
                                "(for example 'my_package.method:MyMethod')")
                return
        else:
            problem = target_problem(kind, name, target)
            if problem:
                problems.append(f"registers {kind} {name!r}: {problem}")
                return
        staged.append(Entry(kind, name, target, summary, info.name, info.distribution, info.version))

    return register


def _plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _undecorated_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """``ucdbench_*`` functions of ``plugin`` without ``@hookimpl``, which pluggy ignores."""
    prefix = f"{hookspecs.PROJECT}_"
    return [attr for attr in dir(plugin) if attr.startswith(prefix) and callable(getattr(plugin, attr, None))
            and pm.parse_hookimpl_opts(plugin, attr) is None]


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return [caller.name for caller in pm.get_hookcallers(plugin) or () if not caller.has_spec()]


def _validate_hooks(pm: pluggy.PluginManager, loaded: list[tuple[PluginInfo, object]]) -> None:
    """Mark broken, and unregister, each plugin with a misspelled or undecorated hook."""
    known = ", ".join(KINDS.values())
    for info, plugin in loaded:
        undecorated = _undecorated_hooks(pm, plugin)
        if undecorated:
            info.error = (f"defines {', '.join(undecorated)} without @hookimpl, so pluggy ignores it: decorate it "
                          "(`from ucdbench import hookimpl`, then `@hookimpl` above the function)")
            pm.unregister(plugin)
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            info = next(i for i, p in loaded if p is exc.plugin)
            unknown = " ".join(f"{name!r}.{did_you_mean(name, KINDS.values(), n=1)}"
                               for name in _unknown_hooks(pm, exc.plugin))
            info.error = f"implements unknown hook {unknown} The hooks are {known} (see ucdbench's docs/hooks/)"
            pm.unregister(exc.plugin)


def _describe_load_error(exc: BaseException) -> str:
    if isinstance(exc, pluggy.PluginValidationError):
        detail = str(exc).replace("\n", " ")
        return f"{detail}; a hook is a plain function of `register`: `@hookimpl def ucdbench_register_methods(register)`"
    return f"could not be loaded: {type(exc).__name__}: {exc}"


def _csv_env(name: str) -> set[str] | None:
    value = os.environ.get(name, "").strip()
    return {v.strip() for v in value.split(",") if v.strip()} if value else None


def _entry_point_candidates() -> list[tuple[PluginInfo, Callable[[], object]]]:
    """Entry points of the ``ucdbench`` group, in load order: built-ins first, then by
    distribution and entry-point name; the environment's allow and deny lists applied."""
    if os.environ.get("UCDBENCH_DISABLE_PLUGIN_AUTOLOAD", "") not in ("", "0"):
        return []
    allow, deny = _csv_env("UCDBENCH_PLUGINS"), _csv_env("UCDBENCH_DISABLE_PLUGINS") or set()
    found = []
    for ep in entry_points(group=hookspecs.PROJECT):
        if (allow is not None and ep.name not in allow) or ep.name in deny:
            continue
        dist = getattr(ep, "dist", None)
        distribution, version = (dist.name, dist.version) if dist is not None else ("", "")
        found.append(((not _is_builtin(distribution), distribution.lower(), ep.name),
                      PluginInfo(ep.name, distribution, version, ep.value), ep.load))
    found.sort(key=lambda item: item[0])
    return [(info, load) for _, info, load in found]


def load_registry(extra: Iterable[tuple[str, object]] = ()) -> Registry:
    """Load every plugin named in the ``ucdbench`` entry-point group (subject to the
    environment variables above), then ``extra`` ``(name, plugin)`` pairs, in that order."""
    registry = Registry()
    pm = _plugin_manager()
    candidates = _entry_point_candidates()
    candidates += [(PluginInfo(name, "", "", getattr(plugin, "__name__", type(plugin).__name__)),
                    lambda plugin=plugin: plugin) for name, plugin in extra]
    loaded: list[tuple[PluginInfo, object]] = []
    owners: dict[str, PluginInfo] = {}
    for info, load in candidates:
        registry.plugins.append(info)
        owner = owners.get(info.name)
        if owner is not None:
            info.error = (f"its entry-point name {info.name!r} is already taken by {owner.package}; rename the "
                          f"entry point in {info.package}'s [project.entry-points.ucdbench]")
            continue
        owners[info.name] = info
        try:
            plugin = load()
            pm.register(plugin, name=info.name)
        except Exception as exc:
            info.error = _describe_load_error(exc)
            continue
        info.hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())
        loaded.append((info, plugin))
    _validate_hooks(pm, loaded)
    registry._collect(pm, [(info, plugin) for info, plugin in loaded if not info.error])
    return registry
