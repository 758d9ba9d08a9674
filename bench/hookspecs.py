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
whose ``name`` is ``name``, or a ``"module:attribute"`` string naming one. A hook with a name
not defined here, a registration that breaks these rules, or a name another plugin already
has is reported by ``ucdbench list`` (see :mod:`ucdbench.plugins` for what each costs).
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
    """Register :class:`ucdbench.interfaces.Method` subclasses.

    A method is what a paper proposes: it says which tasks it supports, its defaults per
    preset, the figures its paper reports, and ``fit`` returns an ``Outcome`` for the harness
    to measure.
    """


@hookspec
def ucdbench_register_tasks(register: Register) -> None:
    """Register :class:`ucdbench.interfaces.Task` subclasses: data, base model and scoring."""


@hookspec
def ucdbench_register_hardware(register: Register) -> None:
    """Register :class:`ucdbench.interfaces.Hardware` subclasses: where runs execute and
    how the harness times, synchronises and meters them."""


@hookspec
def ucdbench_register_evaluations(register: Register) -> None:
    """Register :class:`ucdbench.interfaces.Evaluation` subclasses: one standard
    measurement each, applied by the harness to every outcome that has what it needs."""
