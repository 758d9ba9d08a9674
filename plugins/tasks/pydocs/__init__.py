"""Entry point of the ``pydocs`` task: light, imports no torch."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_tasks(register):
    register("pydocs", "ucdbench_plugins.tasks.pydocs.task:PyDocs",
             summary="byte-level GPT-2 language modelling on CPython's pydoc topics; held-out-topic pretraining")
