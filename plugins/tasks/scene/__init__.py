"""3D Gaussian Splatting for ucdbench: the 3DGS data model and PLY files, a differentiable
rasteriser (pure PyTorch on CPU, gsplat on CUDA) and the ``scene`` task.

Registration only: torch is imported when a run needs the task.
"""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_tasks(register):
    register(
        "scene",
        "ucdbench_plugins.tasks.scene.task:SceneTask",
        summary="novel-view synthesis with a trained 3D Gaussian Splatting scene (PSNR, SSIM)",
    )
