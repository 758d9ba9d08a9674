"""A plugin registering classes directly (not as "module:attribute" strings), so ucdbench
checks them at list time: one whose ``name`` is not the name it is registered under, and
one that is not a Task at all. Light: ``ucdbench.contracts.interfaces`` imports no torch."""

from ucdbench import hookimpl
from ucdbench.contracts.interfaces import Method


class Renamed(Method):
    name = "renamed-in-class"

    def fit(self, task, config, ctx):
        raise NotImplementedError


class NotATask:
    name = "not-a-task"


@hookimpl
def ucdbench_register_methods(register):
    register("renamed", Renamed)


@hookimpl
def ucdbench_register_tasks(register):
    register("not-a-task", NotATask)
