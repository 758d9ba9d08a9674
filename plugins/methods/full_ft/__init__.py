"""``full-ft``: every weight of the task's base model is trained; the artifact is the model.
``base``: the pretrained base as it is, the reference row of adaptation leaderboards."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("full-ft", "ucdbench_plugins.methods.full_ft.method:FullFineTune",
             summary="full fine-tuning (or training from scratch): the reference every compressor is measured against")
    register("base", "ucdbench_plugins.methods.full_ft.method:PretrainedBase",
             summary="the task's pretrained base model unchanged: the reference an adapter must beat")
