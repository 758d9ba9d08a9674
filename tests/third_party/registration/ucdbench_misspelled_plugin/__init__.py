"""A plugin whose method hook is misspelled (``..._method`` for ``..._methods``): pluggy has no
hookspec for it, so ``ucdbench list`` must show the plugin as broken, with the right name, and
keep none of it (not even the task its correctly spelled hook registers)."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_method(register):
    register("misspelled-method", "ucdbench_misspelled_plugin.method:Misspelled")


@hookimpl
def ucdbench_register_tasks(register):
    register("misspelled-task", "ucdbench_misspelled_plugin.task:Misspelled")
