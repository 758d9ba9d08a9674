"""Entry point of the ``fewshot`` task: light, imports no torch."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_tasks(register):
    register("fewshot", "ucdbench_plugins.tasks.fewshot.task:FewShotTask",
             summary="5-way K-shot episodes from novel classes; logistic regression on a frozen backbone's features")
