"""Entry point of the ``video`` task: light, imports no torch."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_tasks(register):
    register("video", "ucdbench_plugins.tasks.video.task:Video",
             summary="a local video dataset of extracted frames and optical flow ($UCDBENCH_VIDEO), one modality "
                     "a run, with a timm model")
