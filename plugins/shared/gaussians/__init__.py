"""3D Gaussian Splatting: the data model and PLY files, a differentiable rasteriser (pure PyTorch
on CPU, gsplat on CUDA), cameras, metrics and training — shared by the ``scene`` task and the
CompGS methods."""
