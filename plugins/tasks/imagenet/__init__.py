"""Entry point of the ``imagenet`` task: light, imports no torch."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_tasks(register):
    register("imagenet", "ucdbench_plugins.tasks.imagenet.task:ImageNet",
             summary="a local ImageNet (ImageFolder or datasets save_to_disk; $UCDBENCH_IMAGENET) with a timm model")
