"""The plugin API of ucdbench: every hook a plugin can implement, in one place.

A plugin is a module (or object) named in the ``ucdbench`` entry-point group of its
distribution's metadata::

    [project.entry-points.ucdbench]
    my-method = "my_package.ucdbench_plugin"

and implements one or more of the hooks below with ``@ucdbench.hookimpl``. Each hook
receives a ``register`` callback (the simonw/llm style), so one plugin may register any
number of things, and registration stays cheap: ``register`` takes a *name* and either the
object itself or a ``"module:attribute"`` string that is imported only when a run needs it.
That keeps ``ucdbench list`` free of torch even though every method depends on it.

Signature of every ``register`` callback::

    register(name: str, target: str | object, *, summary: str = "") -> None

``name`` is letters, digits, ``-`` and ``_``; ``target`` is a subclass of the kind's interface
(:mod:`ucdbench.api`: ``Method``, ``Task``, ``Hardware``, ``Evaluation``, ``Sink``) whose ``name`` is
``name``, or a ``"module:attribute"`` string naming one. ``register`` never raises: it notes
what is wrong, and a plugin with any problem is *broken* (``ucdbench list`` names it with the
fix; nothing it registered is kept; every other plugin works).

Call semantics shared by every hook:

- **When**: each time ucdbench loads its plugins — once in every command that reads them
  (``list``, ``plugins``, ``run``, ``evaluate``, ``check-plugin``, …), again in every worker
  process a run is spread to, and in the fresh processes of the conformance kit. So a hook may
  be called several times, in several processes: register the same things every time, and do
  nothing else (no I/O, no global state, no heavy imports: ``check-plugin`` fails a plugin whose
  registration imports torch).
- **Order**: plugins load built-ins first, then third-party plugins sorted by distribution and
  entry-point name; within a plugin the hooks are called in the order they are defined below.
  The first plugin to register a name keeps it; a later one loses only that name.
- **How**: with one keyword argument, ``register=...``, so the parameter must be called
  ``register``. The return value is ignored.
- **Exceptions**: a hook that raises makes its plugin broken, with the exception in the
  message; nothing that plugin registered is kept, in any hook.

The pages under ``docs/hooks/`` (one per hook) and ``docs/plugins/`` (one per kind of plugin,
with a worked example) say the same at length.
"""

from __future__ import annotations

from typing import Protocol

import pluggy

PROJECT = "ucdbench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Register(Protocol):
    """The callback each hook receives."""

    def __call__(self, name: str, target: str | object, *, summary: str = "") -> None: ...


@hookspec
def ucdbench_register_methods(register: Register) -> None:
    """Register methods: :class:`ucdbench.api.Method` subclasses.

    A method is what a paper proposes: the task capabilities it needs (``requires``), its
    typed settings, the figures its paper reports, and ``fit(task, config, ctx) -> Outcome``,
    which the harness then measures.

    :param register: call ``register(name, target, summary=...)`` once per method. ``name`` is
        what users pass to ``ucdbench run --method`` and equals the class's ``name``;
        ``target`` is the class or, better, a ``"module:attribute"`` string (imported when a
        run needs it, and checked then: a target that fails to import or is not a ``Method``
        stops the command with exit 2 before any run starts); ``summary`` is one line for
        ``ucdbench list``.

    Called once per plugin each time the plugins load (see the module docstring), before
    ``ucdbench_register_tasks``. The return value is ignored; an exception breaks the plugin.
    The method class itself is instantiated once per run, in the process that runs it.
    """


@hookspec
def ucdbench_register_tasks(register: Register) -> None:
    """Register tasks: :class:`ucdbench.api.Task` subclasses (data, a base model, scoring).

    :param register: call ``register(name, target, summary=...)`` once per task. ``name`` is
        what users pass to ``ucdbench run --task`` (and ``--set task.KEY=...`` sets its
        settings); it equals the class's ``name``. ``target`` is the class or a
        ``"module:attribute"`` string, checked when a run loads it; ``summary`` is one line for
        ``ucdbench list``.

    Called once per plugin each time the plugins load, after ``ucdbench_register_methods``.
    The return value is ignored; an exception breaks the plugin. The task class is built
    cheaply by ``ucdbench list --matrix`` (no data read) and, for a run, built and prepared in
    the process that runs it.
    """


@hookspec
def ucdbench_register_hardware(register: Register) -> None:
    """Register hardware back ends: :class:`ucdbench.api.Hardware` subclasses (where runs
    execute, and how the harness synchronises, times and meters them).

    :param register: call ``register(name, target, summary=...)`` once per back end. ``name``
        is what users pass to ``ucdbench run --hardware``; it equals the class's ``name``.
        ``target`` is the class or a ``"module:attribute"`` string, checked when a run loads
        it; ``summary`` is one line for ``ucdbench list``.

    Called once per plugin each time the plugins load, after ``ucdbench_register_tasks``. The
    return value is ignored; an exception breaks the plugin. The back end is instantiated by
    the driver (``unavailable_reason``, ``devices``) and again in each run's process.
    """


@hookspec
def ucdbench_register_evaluations(register: Register) -> None:
    """Register evaluations: :class:`ucdbench.api.Evaluation` subclasses, one standard
    measurement each, applied by the harness to every outcome that has what it needs.

    :param register: call ``register(name, target, summary=...)`` once per evaluation.
        ``name`` is what users write in ``--set eval.NAME.KEY=VALUE`` and ``ucdbench evaluate
        --evaluation NAME``; it equals the class's ``name``. ``target`` is the class or a
        ``"module:attribute"`` string, checked when a run loads it; ``summary`` is one line
        for ``ucdbench list``.

    Called once per plugin each time the plugins load, after ``ucdbench_register_hardware``.
    The return value is ignored; an exception breaks the plugin. Evaluations are applied in the order they were registered
    (built-ins first), each to every run, and each is a measurement of its own: installing
    one changes no run's key, and ``ucdbench run`` or ``ucdbench evaluate`` measures it on
    recorded runs' outcomes rebuilt from their artifacts.
    """


@hookspec
def ucdbench_register_sinks(register: Register) -> None:
    """Register sinks: :class:`ucdbench.api.Sink` subclasses, places a run's results go besides
    its record (an experiment tracker such as MLflow or Weights & Biases, TensorBoard event files).

    :param register: call ``register(name, target, summary=...)`` once per sink. ``name`` is
        what users pass to ``ucdbench run --sink NAME[=TARGET]`` and write in an experiment
        file's ``sinks = [...]``; it equals the class's ``name``. ``target`` is the class or,
        better, a ``"module:attribute"`` string (a sink's tracker package is heavy and often
        not installed: keep its import inside the sink's methods, and say in
        ``Sink.unavailable_reason`` what to install); ``summary`` is one line for ``ucdbench list``.

    Called once per plugin each time the plugins load, last. The return value is ignored; an
    exception breaks the plugin. A sink is constructed once per ``ucdbench run`` that names it, in
    the process that reads the records, and handed each run after the run is recorded; whatever
    it raises is reported and costs no run (the record stays the source of truth).
    """
