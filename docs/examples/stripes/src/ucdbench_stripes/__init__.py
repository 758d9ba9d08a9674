"""Registers the stripes task. `ucdbench list` imports this module: no torch here."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_tasks(register):
    register("stripes", "ucdbench_stripes.task:Stripes",
             summary="orientation of noisy generated 8x8 stripes (4 classes), an MLP pretrained on other patterns")
