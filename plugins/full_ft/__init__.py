"""``full-ft``: every weight of the task's base model is trained; the artifact is the model."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("full-ft", "ucdbench_plugins.full_ft.method:FullFineTune",
             summary="full fine-tuning (or training from scratch): the reference every compressor is measured against")
