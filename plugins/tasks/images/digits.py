"""Entry point of the ``digits`` task (the default task): light, imports no torch."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_tasks(register):
    register("digits", "ucdbench_plugins.tasks.images.datasets:Digits",
             summary="scikit-learn 8x8 digits; held-out-class pretraining; small ViT/CNN/MLP")
