"""A plugin whose distribution declares the entry-point name ``empty``, which
ucdbench-empty-plugin (sorted first) already has: broken, with the name of the other."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_tasks(register):
    register("twin-task", "ucdbench_twin_plugin.task:Twin")
